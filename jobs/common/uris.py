"""URIs and file-system access for jobs.

Every URI is ``s3://bucket/key`` (EMRFS on EMR Serverless; whatever FileSystem the Spark configuration maps
``s3`` to elsewhere), a plain path or a ``file://`` URI.

Small objects (pointers, result JSONs) are read and written here: plain paths with file operations (atomic via
``os.replace``), everything else through the Hadoop FileSystem of the running JVM (on S3 one object = one PUT).
"""
from __future__ import annotations

import os
import tempfile
import uuid
from urllib.parse import urlparse

def has_scheme(uri: str) -> bool:
    parsed = urlparse(uri)
    return bool(parsed.scheme) and len(parsed.scheme) > 1  # "C:" is not a scheme


def to_physical(uri: str) -> str:
    """The URI Spark/Hadoop should use for a URI (plain paths as absolute ``file://`` URIs)."""
    if not uri:
        raise ValueError("empty URI")
    if not has_scheme(uri):
        return "file://" + os.path.abspath(uri)
    if uri.startswith("file:") and not uri.startswith("file://"):
        return "file://" + uri[len("file:"):]
    return uri


def to_logical(physical: str) -> str:
    """A URI as Hadoop reports it (``file:/x``) in the form results name it (``file:///x``); others unchanged."""
    if not is_local(physical):
        return physical
    return "file://" + local_path(physical)


def is_local(uri: str) -> bool:
    return to_physical(uri).startswith("file:")


def local_path(uri: str) -> str:
    """Filesystem path of a local URI."""
    physical = to_physical(uri)
    if not physical.startswith("file:"):
        raise ValueError(f"not a local URI: {uri}")
    path = physical[len("file:"):]
    while path.startswith("//"):
        path = path[1:]
    return path


def join_uri(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out = out + "/" + part.strip("/")
    return out


def _jvm_fs(uri: str):
    # S3 is reached through the JVM's FileSystem (EMRFS on EMR): a job that touches S3 before its Spark work (a
    # model pointer) or without any (a result after bad arguments) starts the session here
    from jobs.common.spark import get_spark

    spark = get_spark("jobs")
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(to_physical(uri))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return jvm, fs, path


def exists(uri: str) -> bool:
    if is_local(uri):
        return os.path.exists(local_path(uri))
    _, fs, path = _jvm_fs(uri)
    return bool(fs.exists(path))


def read_text(uri: str) -> str:
    if is_local(uri):
        with open(local_path(uri), encoding="utf-8") as handle:
            return handle.read()
    jvm, fs, path = _jvm_fs(uri)
    stream = fs.open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(uri: str, text: str) -> None:
    """Replaces the object at ``uri`` in one step (temp file + ``os.replace`` locally, one PUT on S3)."""
    if is_local(uri):
        target = local_path(uri)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(target) or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    _, fs, path = _jvm_fs(uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def rename(source: str, target: str) -> None:
    """Moves one file (``os.replace`` locally; on S3 one server-side copy, which is atomic, then a delete)."""
    if is_local(source):
        os.makedirs(os.path.dirname(local_path(target)) or ".", exist_ok=True)
        os.replace(local_path(source), local_path(target))
        return
    jvm, fs, path = _jvm_fs(source)
    if not fs.rename(path, jvm.org.apache.hadoop.fs.Path(to_physical(target))):
        raise OSError(f"could not move {source} to {target}")


def delete(uri: str, recursive: bool = True) -> bool:
    if is_local(uri):
        import shutil

        target = local_path(uri)
        if os.path.isdir(target):
            if not recursive:
                os.rmdir(target)
            else:
                shutil.rmtree(target)
            return True
        if os.path.exists(target):
            os.unlink(target)
            return True
        return False
    _, fs, path = _jvm_fs(uri)
    return bool(fs.delete(path, recursive))


def list_names(uri: str) -> list[str]:
    """Names directly under a directory URI (empty when it does not exist)."""
    if is_local(uri):
        target = local_path(uri)
        return sorted(os.listdir(target)) if os.path.isdir(target) else []
    _, fs, path = _jvm_fs(uri)
    if not fs.exists(path):
        return []
    return sorted(str(status.getPath().getName()) for status in fs.listStatus(path))


def list_files(uri: str) -> list[str]:
    """Logical URIs of the data files at ``uri`` (a file, or a directory's files not starting with ``_``/``.``)."""
    if is_local(uri):
        target = local_path(uri)
        if os.path.isfile(target):
            return [uri]
        if not os.path.isdir(target):
            return []
        return [join_uri(uri, n) for n in sorted(os.listdir(target))
                if not n.startswith(("_", ".")) and os.path.isfile(os.path.join(target, n))]
    _, fs, path = _jvm_fs(uri)
    if not fs.exists(path):
        return []
    if fs.isFile(path):
        return [uri]
    return [join_uri(uri, str(s.getPath().getName())) for s in fs.listStatus(path)
            if s.isFile() and not str(s.getPath().getName()).startswith(("_", "."))]


GLOB_CHARS = "*?[{"


def has_glob(uri: str) -> bool:
    return any(ch in uri for ch in GLOB_CHARS)


def glob_root(uri: str) -> str:
    """The directory part of ``uri`` before its first glob character (``uri`` itself without one)."""
    if not has_glob(uri):
        return uri
    first = min(uri.index(ch) for ch in GLOB_CHARS if ch in uri)
    return uri[:uri.rfind("/", 0, first)]


def list_file_status(uri: str) -> list[dict]:
    """``{"uri", "bytes", "modified"}`` (modified: epoch milliseconds) of the data files at ``uri``: a file, a
    directory's files (not starting with ``_``/``.``, not recursive) or the matches of a Hadoop glob. Empty when
    nothing is there (on S3 an empty prefix does not exist)."""
    if is_local(uri):
        import glob as _glob

        pattern = local_path(uri)
        matches = sorted(_glob.glob(pattern)) if has_glob(pattern) else ([pattern] if os.path.exists(pattern) else [])
        prefix = "file://" if has_scheme(uri) else ""
        out = []
        for match in matches:
            names = [os.path.join(match, n) for n in sorted(os.listdir(match))] if os.path.isdir(match) else [match]
            for name in names:
                if os.path.isfile(name) and not os.path.basename(name).startswith(("_", ".")):
                    stat = os.stat(name)
                    out.append({"uri": prefix + name, "bytes": stat.st_size, "modified": int(stat.st_mtime * 1000)})
        return out
    _, fs, path = _jvm_fs(uri)
    statuses = fs.globStatus(path) or []
    out = []
    for status in statuses:
        children = fs.listStatus(status.getPath()) if status.isDirectory() else [status]
        for child in children:
            if child.isFile() and not str(child.getPath().getName()).startswith(("_", ".")):
                out.append({"uri": to_logical(str(child.getPath())), "bytes": int(child.getLen()),
                            "modified": int(child.getModificationTime())})
    return sorted(out, key=lambda f: f["uri"])


def unique_suffix() -> str:
    return uuid.uuid4().hex[:8]
