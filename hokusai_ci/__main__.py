from hokusai_ci.cli import main

main()
