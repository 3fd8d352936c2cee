"""python -m robdns — same as the robdns command."""
from robdns.cli import main

raise SystemExit(main())
