"""The API's views: what every route shares (base.py), the records (reads.py), the commands that start
jobs (commands.py), and policies (policies.py)."""
