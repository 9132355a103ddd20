"""How `vaultline` ends: 0 when everything (and every job it waited for) succeeded."""

JOB_FAILED = 1  # a job it waited for failed or was cancelled
USAGE = 2  # what was typed names nothing, or more than one thing; a missing option; no URL or token
PORTAL = 3  # the portal refused (its problem is printed) or did not answer
UNEXPECTED = 4  # a bug in vaultline itself: the message says where
INTERRUPTED = 130  # Ctrl-C: jobs already started go on in the portal
