import sys

from lateen.cli import main

sys.exit(main())
