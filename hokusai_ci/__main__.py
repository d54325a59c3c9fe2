from hokusai_ci.faces.cli import main

main()
