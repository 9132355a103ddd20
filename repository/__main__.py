"""Read a vault repository without the portal:

    python -m repository --repo PATH_OR_S3_URL --key-file FILE list
    python -m repository --repo … --key-file FILE verify
    python -m repository --repo … --key-file FILE restore POINT DISK OUTPUT

The key file is the one an Owner exports from the vault's Quick Start page (its lines starting with
"#" are comments; the key is 64 hex characters).
"""

import argparse
import sys

from repository import Repository, RepositoryError, open_storage


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m repository", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="folder, or s3://bucket/prefix")
    parser.add_argument("--key-file", required=True, help="file holding the vault key in hex")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the recovery points")
    commands.add_parser("verify", help="read and check every chunk the recovery points need")
    restore = commands.add_parser("restore", help="write one disk of a recovery point to a file")
    restore.add_argument("point")
    restore.add_argument("disk", help="the disk's number as `list` shows it (1 for the first), or its name if no other disk has it")
    restore.add_argument("output")
    args = parser.parse_args(argv)

    try:
        key = read_key_file(args.key_file)
        repo = Repository.open(open_storage(args.repo), key)
        if args.command == "list":
            for point in repo.points():
                disks = ", ".join(f"{number}: {disk['name']} ({disk['size']} bytes)"
                                  for number, disk in enumerate(point["disks"], start=1))
                print(f"{point['id']}  {point['created']}  {point.get('vm', {}).get('name', '?')}  "
                      f"{point.get('consistency', '?')}  {disks}")
        elif args.command == "verify":
            report = repo.verify()
            print(f"{len(report.points)} recovery points, {report.chunks_checked} chunks checked")
            for name, reason in sorted(report.damaged_objects.items()):
                print(f"DAMAGED {name}: {reason}")
            for point_id in report.affected_points:
                print(f"AFFECTED {point_id}")
            return 0 if report.ok else 1
        else:
            index = _disk_index(repo.load_point(args.point)["disks"], args.disk)
            repo.restore_disk(args.point, index, args.output)
            print(f"Restored disk {index + 1} of {args.point} to {args.output}")
    except (OSError, ValueError, RepositoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def read_key_file(path):
    """The vault key from an exported key file: comment lines ("#") skipped, the key in hex."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ValueError(f"{path} does not hold one vault key")
    key = bytes.fromhex(lines[0])
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 256-bit vault key")
    return key


def _disk_index(disks, wanted):
    """The place of the disk named by its number (1 for the first) or by a name only it has."""
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(disks):
        return int(wanted) - 1
    places = [index for index, disk in enumerate(disks) if disk["name"] == wanted]
    if len(places) == 1:
        return places[0]
    raise ValueError(f"{'several disks are' if places else 'no disk is'} named {wanted!r}: give its number instead")


if __name__ == "__main__":
    sys.exit(main())
