from hokusai_ci.faces.launch import main

main()
