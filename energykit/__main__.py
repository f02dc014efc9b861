from energykit.cli import main

raise SystemExit(main())
