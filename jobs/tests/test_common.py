import json
import os

import pytest

from jobs.common import cli, datasets, uris


def test_s3_uris_go_through_the_jvm_filesystem(local_s3):
    uris.write_text("s3://lake/silver/x/state.json", '{"v": 1}')
    assert (local_s3 / "lake/silver/x/state.json").read_text() == '{"v": 1}'
    assert uris.read_text("s3://lake/silver/x/state.json") == '{"v": 1}'
    assert uris.exists("s3://lake/silver/x/state.json") and not uris.exists("s3://lake/silver/x/nope")
    assert uris.list_names("s3://lake/silver/x") == ["state.json"]
    assert uris.delete("s3://lake/silver/x/state.json") and not (local_s3 / "lake/silver/x/state.json").exists()


def test_to_physical_keeps_s3_and_makes_paths_absolute():
    assert uris.to_physical("s3://lake/a") == "s3://lake/a"
    assert uris.to_logical("file:/x/y/part-0.parquet") == "file:///x/y/part-0.parquet"
    assert uris.to_physical("relative/dir") == "file://" + os.path.abspath("relative/dir")
    assert uris.to_physical("file:/x/y") == "file:///x/y"


def test_write_text_replaces_atomically_and_reads_back(tmp_path):
    target = str(tmp_path / "a" / "b.json")
    uris.write_text(target, "one")
    uris.write_text(target, "two")
    assert uris.read_text(target) == "two"
    assert sorted(os.listdir(tmp_path / "a")) == ["b.json"]


def _parser():
    parser = cli.new_parser("demo", "demo job")
    parser.add_argument("--n", type=cli.positive_int, required=True)
    return parser


def test_run_job_exit_codes_and_result(tmp_path, capsys):
    result = tmp_path / "r.json"

    def ok(args, ctx):
        ctx.counts["n"] = args.n

    def bad(args, ctx):
        raise cli.ArgumentError("--n", "too large")

    def boom(args, ctx):
        raise RuntimeError("exploded")

    assert cli.run_job("demo", _parser, ok, ["--n", "3", "--result-uri", str(result)]) == 0
    body = json.loads(result.read_text())
    assert body["status"] == "SUCCEEDED" and body["counts"] == {"n": 3} and body["error"] is None
    assert cli.run_job("demo", _parser, ok, ["--n", "0", "--result-uri", str(result)]) == 2
    assert "argument --n" in capsys.readouterr().err
    assert cli.run_job("demo", _parser, ok, ["--n", "1"]) == 2
    assert "--result-uri" in capsys.readouterr().err
    assert cli.run_job("demo", _parser, bad, ["--n", "1", "--result-uri", str(result)]) == 2
    assert "argument --n: too large" in capsys.readouterr().err
    assert cli.run_job("demo", _parser, boom, ["--n", "1", "--result-uri", str(result)]) == 1
    body = json.loads(result.read_text())
    assert body["status"] == "FAILED" and "exploded" in body["error"]
    assert cli.run_job("demo", _parser, ok, ["--help"]) == 0


def test_list_file_status_of_a_directory_a_glob_and_nothing(local_s3, tmp_path):
    for name in ("b.csv", "a.csv", "_SUCCESS"):
        uris.write_text(f"s3://lake/bronze/in/{name}", "x" * len(name))
    listed = uris.list_file_status("s3://lake/bronze/in/")
    assert [(f["uri"], f["bytes"]) for f in listed] == [("s3://lake/bronze/in/a.csv", 5), ("s3://lake/bronze/in/b.csv", 5)]
    assert all(f["modified"] > 0 for f in listed)
    assert [f["uri"] for f in uris.list_file_status("s3://lake/bronze/in/b*")] == ["s3://lake/bronze/in/b.csv"]
    assert uris.list_file_status("s3://lake/bronze/none/") == []  # an empty S3 prefix does not exist
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.csv").write_text("1")
    assert [f["uri"] for f in uris.list_file_status(str(tmp_path / "d"))] == [str(tmp_path / "d" / "x.csv")]
    assert [f["uri"] for f in uris.list_file_status(f"file://{tmp_path}/d/*.csv")] == [f"file://{tmp_path}/d/x.csv"]
    assert uris.list_file_status(str(tmp_path / "d" / "*.json")) == []


def test_glob_root():
    assert uris.glob_root("s3://lake/bronze/in/") == "s3://lake/bronze/in/"
    assert uris.glob_root("s3://lake/bronze/in/*.csv") == "s3://lake/bronze/in"
    assert uris.glob_root("s3://lake/bronze/in/2026-*/b?.csv") == "s3://lake/bronze/in"
