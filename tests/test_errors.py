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
