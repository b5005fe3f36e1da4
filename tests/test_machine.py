"""The machine record: which of oneDNN's instruction sets a CPU's flags allow, and the settings that cap it."""

import pytest

from steel_defect.machine import CAP, best_isa, describe

AVX2 = {"sse4_1", "avx", "avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}


@pytest.mark.parametrize(
    "flags, isa",
    [
        (AVX512 | {"avx512_vnni", "avx512_bf16"}, "avx512_core_bf16"),
        (AVX512 | {"avx512_vnni"}, "avx512_core_vnni"),
        (AVX512, "avx512_core"),
        (AVX2 | {"avx512f"}, "avx2"),  # AVX-512 foundation alone is not oneDNN's avx512_core
        (AVX2, "avx2"),
        ({"sse4_1", "avx"}, "avx"),
        (set(), "unknown"),
    ],
)
def test_the_best_instruction_set_the_flags_allow(flags: set[str], isa: str):
    assert best_isa(flags) == isa


def test_a_cap_on_the_instruction_set_is_recorded_only_when_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CAP, raising=False)
    assert CAP not in describe()
    monkeypatch.setenv(CAP, "AVX2")
    assert describe()[CAP] == "AVX2"
