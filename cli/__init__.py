"""`vaultline`, the command line: everything a person clicks in the portal, for scripts, through the
REST API with a personal token. It knows nothing of the server's code (an import contract says so):
only the API's URLs and JSON."""
