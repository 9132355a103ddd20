"""The vault pages: each view parses the request, calls one service or operation, and renders.
base (the vault a request may see, the tab frame, command answers), tabs, commands, the Protect
and Restore wizards, policies, jobs and the notification tray."""
