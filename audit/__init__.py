"""The audit log: who did what to which object, from where and when, and how it ended. Rows are only
ever added. It knows no vault: what it records comes from the request (`trail`) and the object the
request was scoped to (anything with an `audit_scope()`)."""
