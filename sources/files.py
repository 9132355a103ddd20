"""Files a VM source hands us are untrusted: open each once, never through a symbolic link, and use
what was opened. Files we create are created exclusively, so nothing is ever written through a path
someone planted. No Django in here.

Everything works on directory descriptors (`dir_fd`): a folder checked once stays the folder used,
even if its path is swapped for a symlink a moment later.
"""

import contextlib
import errno
import fcntl
import os
import secrets
import stat

READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
FICLONE = 0x40049409  # ioctl: share the source's blocks (reflink) where the file system can
COPY_CHUNK = 64 * 1024 * 1024


class UnsafeFile(Exception):
    """A file or folder that is not what it must be: a symlink, not a regular file, linked elsewhere."""


def open_folder(name, dir_fd=None):
    """A descriptor of the folder `name` (in `dir_fd`), refusing a symlink."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFile(f"{name} is not a folder (a symbolic link, or a file)") from None
        raise


def open_file(name, dir_fd, flags=READ, mode=0o600, max_links=None):
    """A descriptor of the regular file `name` in `dir_fd`, never through a symlink. `flags` may add
    O_CREAT (creating it, or opening the one that is there) or ask for writing. With `max_links`,
    a file hard-linked from more places than that is refused (it would be written elsewhere too)."""
    try:
        # O_NONBLOCK: opening a FIFO planted there would otherwise wait for a writer, forever.
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"{name} is a symbolic link") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (max_links is not None and info.st_nlink > max_links):
        os.close(fd)
        raise UnsafeFile(f"{name} is not a plain file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def create_exclusive(dir_fd, prefix, mode=0o600):
    """(descriptor, name) of a new, empty file in `dir_fd` with a random name that nothing else had."""
    while True:
        name = f"{prefix}{secrets.token_hex(8)}"
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        return fd, name


def create_new(name, dir_fd, mode=0o600):
    """A descriptor of a new file `name` in `dir_fd`: refuses one that is already there, whatever it is."""
    return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)


def make_private_folder(path):
    """Create the folder `path` (0700) for one job's work files; refuses one that is already there.
    Its parents are made as needed, 0700 too."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)  # whatever the umask said


@contextlib.contextmanager
def descriptor(fd):
    try:
        yield fd
    finally:
        os.close(fd)


def proc_path(fd):
    """The name another process (qemu-img, given the descriptor with pass_fds) opens to reach exactly
    the file behind `fd`: a magic link to the open file, not a path that can be swapped."""
    return f"/proc/self/fd/{fd}"


def write_file(dir_fd, name, data, mode=0o644):
    """Replace `name` in `dir_fd` with `data`, atomically: an exclusive temporary file, fsynced, renamed."""
    fd, temporary = create_exclusive(dir_fd, f".{name}.")
    try:
        with descriptor(fd):
            os.write(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise


def reflink(source_fd, target_fd, size):
    """Share the source's blocks into the open, empty target at once (btrfs, XFS): True, or False where
    the file system cannot."""
    try:
        fcntl.ioctl(target_fd, FICLONE, source_fd)
    except OSError:
        return False
    os.ftruncate(target_fd, size)  # the size checked, whatever the file grew to since
    return True


def copy_sparse(source_fd, target_fd, size):
    """Copy `size` bytes between two open files, holes kept as holes: a reflink where the file
    system shares blocks, else the source's data extents one by one (copy_file_range)."""
    os.ftruncate(target_fd, 0)
    if reflink(source_fd, target_fd, size):
        return
    os.ftruncate(target_fd, size)
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source_fd, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole from here on
                break
            raise
        end = min(os.lseek(source_fd, start, os.SEEK_HOLE), size)
        at = start
        while at < end:
            copied = os.copy_file_range(source_fd, target_fd, min(end - at, COPY_CHUNK), at, at)
            if copied == 0:
                raise OSError(errno.EIO, "the disk image ended early")
            at += copied
        offset = end
