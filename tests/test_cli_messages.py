"""The command line's own mistakes said in Chinese: argparse's English messages translated, usage
shown, exit 2 — and --every taking an interval as people write it (300, 5m, 2h, 1d, 10分钟)."""
from __future__ import annotations

import pytest

from citybi.cli import _interval_seconds, main


@pytest.mark.parametrize(("argv", "expected"), [
    (["nosuch"], "citybi：错误：没有「nosuch」这个命令，可选："),
    (["sources", "nosuch"], "citybi sources：错误：没有「nosuch」这个命令"),
    (["ingest"], "citybi ingest：错误：缺少必需的参数：file, --table"),
    (["ingest", "a.csv", "--table", "t", "--mode", "bad"],
     "参数 --mode 的值「bad」无效，可选：'create', 'replace', 'append'"),
    (["ingest", "a.csv", "--table"], "参数 --table 后面需要一个值"),
    (["datasets", "--bogus"], "citybi：错误：无法识别的参数：--bogus"),
    (["sources", "add", "x", "http://127.0.0.1/a.json", "--table", "t", "--every", "5", "--cron", "* * * * *"],
     "参数 --cron 不能与 --every 同时使用"),
    (["sources", "add", "x", "http://127.0.0.1/a.json", "--table", "t", "--every", "1x"],
     "参数 --every：「1x」不是有效的刷新间隔，请写秒数或带单位，例如 300、5m、2h、1d、10分钟"),
], ids=["command", "subcommand", "required", "choice", "no-value", "unrecognized", "exclusive", "interval"])
def test_mistakes_are_said_in_chinese(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert expected in err and err.startswith("用法：citybi")
    assert "error:" not in err and "usage:" not in err


def test_help_is_headed_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sources", "add", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("用法：citybi sources add") and "位置参数：" in out and "选项：" in out
    assert "显示帮助并退出" in out and "options:" not in out


@pytest.mark.parametrize(("text", "seconds"), [
    ("300", 300), ("300s", 300), ("5m", 300), ("5min", 300), ("2h", 7200), ("1d", 86400), ("10分钟", 600),
    ("2小时", 7200), (" 1 天 ", 86400), ("45秒", 45),
])
def test_every_takes_an_interval_as_written(text: str, seconds: int) -> None:
    assert _interval_seconds(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "1.5h", "h", "5 weeks", "五分钟"])
def test_every_refuses_what_is_no_interval(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="不是有效的刷新间隔"):
        _interval_seconds(text)
