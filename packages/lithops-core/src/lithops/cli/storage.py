"""``lithops storage put|get|delete|list|empty``: objects of the configured (or ``-b``) storage backend."""

from __future__ import annotations

import os
import sys

import click

from lithops.cli.common import CliError, human_size, local_time, storage_client, storage_options, table


@click.group("storage")
def storage() -> None:
    """Put, get, list and delete objects in storage."""


@storage.command("put")
@click.argument("filename", type=click.Path(exists=True, dir_okay=False))
@click.argument("bucket")
@click.option("--key", "-k", help="Object key (default: the file's name).")
@storage_options
def put(filename: str, bucket: str, key: str | None, backend: str | None) -> None:
    """Upload FILENAME to BUCKET."""
    client = storage_client(backend)
    key = key or os.path.basename(filename)
    client.upload_file(filename, bucket, key)
    click.echo(f"Uploaded {filename} to {bucket}/{key} ({human_size(os.path.getsize(filename))}).")


@storage.command("get")
@click.argument("bucket")
@click.argument("key")
@click.option("--out", "-o", help="File to write (default: the key's last part, here; '-' for stdout).")
@storage_options
def get(bucket: str, key: str, out: str | None, backend: str | None) -> None:
    """Download object KEY of BUCKET."""
    client = storage_client(backend)
    if out == "-":
        body = client.get_object(bucket, key, stream=True)
        try:
            while True:
                chunk = body.read(1024 * 1024)
                if not chunk:
                    break
                sys.stdout.buffer.write(chunk)
        finally:
            body.close()
        sys.stdout.buffer.flush()
        return
    out = out or os.path.basename(key.rstrip("/")) or "object"
    if os.path.isdir(out):
        out = os.path.join(out, os.path.basename(key.rstrip("/")))
    client.download_file(bucket, key, out)
    click.echo(f"Downloaded {bucket}/{key} to {out} ({human_size(os.path.getsize(out))}).")


@storage.command("delete")
@click.argument("bucket")
@click.argument("key", required=False)
@click.option("--prefix", "-p", help="Delete every object whose key starts with this.")
@storage_options
def delete(bucket: str, key: str | None, prefix: str | None, backend: str | None) -> None:
    """Delete object KEY of BUCKET, or every object under --prefix."""
    if not key and prefix is None:
        raise CliError("say what to delete: a KEY, or --prefix PREFIX (lithops storage empty BUCKET deletes all).")
    client = storage_client(backend)
    keys = [key] if key else []
    if prefix is not None:
        keys += client.list_keys(bucket, prefix)
    if key:
        client.head_object(bucket, key)  # a missing key is an error here, naming the key
    if keys:
        client.delete_objects(bucket, keys)
    click.echo(f"Deleted {len(keys)} object(s) from {bucket}.")


@storage.command("list")
@click.argument("bucket", required=False)
@click.option("--prefix", "-p", help="Only keys that start with this.")
@storage_options
def list_objects(bucket: str | None, prefix: str | None, backend: str | None) -> None:
    """List the objects of BUCKET (default: the configured bucket)."""
    client = storage_client(backend)
    bucket = bucket or client.bucket
    client.head_bucket(bucket)
    objects = client.list_objects(bucket, prefix)
    if not objects:
        click.echo(f"No objects in {bucket}" + (f" under {prefix!r}." if prefix else "."))
        return
    rows = [(o["Key"], human_size(o["Size"]), local_time(_timestamp(o.get("LastModified")))) for o in objects]
    click.echo(table(["KEY", "SIZE", "LAST MODIFIED"], rows))
    total = sum(o["Size"] for o in objects)
    click.echo(f"{len(objects)} object(s), {human_size(total)} in {bucket}.")


def _timestamp(value: object) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())  # datetime from cloud SDKs
    return None


@storage.command("empty")
@click.argument("bucket")
@storage_options
def empty(bucket: str, backend: str | None) -> None:
    """Delete every object of BUCKET."""
    client = storage_client(backend)
    client.head_bucket(bucket)
    keys = client.list_keys(bucket)
    if keys:
        client.delete_objects(bucket, keys)
    click.echo(f"Deleted {len(keys)} object(s) from {bucket}.")
