import pytest

from steel_defect.errors import UserError, run_stage


def test_user_error_exits_with_one_line(capsys):
    def main():
        raise UserError("data/raw/x.bmp: empty file")

    with pytest.raises(SystemExit) as exit_info:
        run_stage(main)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: data/raw/x.bmp: empty file\n"


def test_sigterm_unwinds_cleanup_and_exits_143(tmp_path, capsys):
    import os
    import signal

    from steel_defect.atomic import atomic_file

    def main():
        with atomic_file(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_info:
        run_stage(main)
    assert signal.getsignal(signal.SIGTERM) is previous, "the caller's own SIGTERM handler is back"
    assert exit_info.value.code == 143
    assert capsys.readouterr().err == "interrupted: no output was written\n"
    assert list(tmp_path.iterdir()) == [], "neither the output nor its temporary file remains"
