from opinionkit.cli import main

main()
