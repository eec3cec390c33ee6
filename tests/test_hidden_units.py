"""rnncourse.hidden_units.find_unit against a brute-force search with np.corrcoef, in float64."""
import numpy as np
import pytest

from rnncourse import find_unit, unit_correlations


def planted(seed, T=300, H=20, unit=7, slope=0.3, offset=0.0):
    """Random units, and one (``unit``) that is ``slope * prop + offset`` plus a little noise."""
    rng = np.random.default_rng(seed)
    prop = (np.arange(T) % 37).astype(float)               # (T,) a position-in-the-line counter
    acts = rng.standard_normal((T, H))                     # (T, H)
    acts[:, unit] = slope * prop + offset + 0.5 * rng.standard_normal(T)
    return acts, prop


def brute_force(acts, prop):
    corr = np.array([np.corrcoef(acts[:, u], prop)[0, 1] for u in range(acts.shape[1])])
    return int(np.argmax(np.abs(corr))), float(corr[np.argmax(np.abs(corr))]), corr


@pytest.mark.parametrize("seed,slope,offset", [(0, 0.3, 0.0), (1, -0.3, 5.0), (2, 0.05, -40.0)])
def test_finds_the_planted_unit_with_the_correlation_np_corrcoef_gives(seed, slope, offset):
    acts, prop = planted(seed, slope=slope, offset=offset)
    unit, corr = find_unit(acts, prop)
    want_unit, want_corr, _ = brute_force(acts, prop)
    assert unit == want_unit == 7
    assert corr == pytest.approx(want_corr, abs=1e-12)
    assert type(unit) is int and type(corr) is float


def test_unit_correlations_match_np_corrcoef_column_by_column_and_are_0_for_a_constant_unit():
    acts, prop = planted(11, H=9, offset=3.0)
    acts[:, 3] = 0.1
    r = unit_correlations(acts, prop)
    assert r.shape == (9,) and r.dtype == np.float64
    for u in range(9):
        want = 0.0 if u == 3 else np.corrcoef(acts[:, u], prop)[0, 1]
        assert r[u] == pytest.approx(want, abs=1e-12), u
    assert find_unit(acts, prop) == (int(np.argmax(np.abs(r))), float(r[np.argmax(np.abs(r))]))


def test_every_unit_is_searched_not_only_the_planted_one():
    rng = np.random.default_rng(3)
    acts, prop = rng.standard_normal((40, 12)), rng.standard_normal(40)   # no planted unit at all
    unit, corr = find_unit(acts, prop)
    want_unit, want_corr, all_corr = brute_force(acts, prop)
    assert (unit, corr) == (want_unit, pytest.approx(want_corr, abs=1e-12))
    assert abs(corr) == pytest.approx(np.abs(all_corr).max(), abs=1e-12)


def test_an_anticorrelated_unit_wins_by_its_absolute_value_and_keeps_its_sign():
    acts, prop = planted(4, slope=-0.3)
    acts[:, 2] = 0.5 * prop + 8.0 * np.random.default_rng(5).standard_normal(len(prop))   # weakly positive
    _, _, all_corr = brute_force(acts, prop)
    assert all_corr[2] > 0.1 and all_corr.argmax() == 2, "unit 2 has the largest signed correlation"
    unit, corr = find_unit(acts, prop)
    assert unit == 7 and corr < -0.9


def test_the_scale_and_offset_of_a_unit_do_not_matter():
    acts, prop = planted(6)
    unit, corr = find_unit(acts, prop)
    rescaled = acts * np.arange(1, 21) * 100.0 - 50.0      # every unit scaled and shifted differently
    assert find_unit(rescaled, prop) == (unit, pytest.approx(corr, abs=1e-12))
    assert find_unit(acts, 3.0 * prop - 100.0) == (unit, pytest.approx(corr, abs=1e-12))
    assert find_unit(acts, -prop) == (unit, pytest.approx(-corr, abs=1e-12))


def test_a_constant_unit_has_correlation_zero_not_nan():
    acts, prop = planted(7, H=6, unit=4)
    acts[:, 0] = 0.1                                       # the mean of 0.1s is not exactly 0.1
    acts[:, 1] = 0.0
    assert np.any(acts[:, 0] - acts[:, 0].mean() != 0), "rounding leaves a constant unit slightly off its mean"
    unit, corr = find_unit(acts, prop)
    assert (unit, corr) == (4, pytest.approx(np.corrcoef(acts[:, 4], prop)[0, 1], abs=1e-12))
    weak = np.stack([np.full(300, 0.1), np.full(300, 0.3), prop + 30.0 * acts[:, 2]], axis=1)   # (T, 3)
    assert find_unit(weak, prop) == (2, pytest.approx(np.corrcoef(weak[:, 2], prop)[0, 1], abs=1e-12))
    only_constant = np.full((5, 3), 0.7)
    assert find_unit(only_constant, np.arange(5.0)) == (0, 0.0)


def test_ties_go_to_the_lowest_index():
    prop = np.array([0.0, 1.0, 2.0, 3.0])
    acts = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.0, 1.0], [1.0, -2.0, 0.0, 2.0], [0.0, -3.0, 2.0, 3.0]])
    assert find_unit(acts, prop) == (1, -1.0)              # units 1 and 3 both have |r| = 1
    assert find_unit(acts[:, [0, 3, 2, 1]], prop) == (1, 1.0)


def test_integer_boolean_and_float32_inputs_give_the_float64_answer():
    acts, prop = planted(8)
    unit, corr = find_unit(acts, prop)
    assert find_unit(acts, prop.astype(np.int64)) == (unit, pytest.approx(corr, abs=1e-12))
    assert find_unit(acts.astype(np.float32), prop)[0] == unit
    flag = prop < 10                                       # a 0/1 property given as booleans
    assert find_unit(acts, flag) == find_unit(acts, flag.astype(float))


def test_the_inputs_are_not_modified():
    acts, prop = planted(9)
    acts_before, prop_before = acts.copy(), prop.copy()
    find_unit(acts, prop)
    np.testing.assert_array_equal(acts, acts_before)
    np.testing.assert_array_equal(prop, prop_before)


def test_bad_arguments_are_named():
    acts, prop = planted(10, T=30)
    with pytest.raises(ValueError, match=r"prop is constant \(every value is 2\)"):
        find_unit(acts, np.full(30, 2.0))
    with pytest.raises(ValueError, match=r"acts has shape \(30, 20\) and prop has shape \(29,\)"):
        find_unit(acts, prop[:-1])
    with pytest.raises(ValueError, match=r"acts has shape \(20, 30\) and prop has shape \(30,\)"):
        find_unit(acts.T, prop)
    with pytest.raises(ValueError, match="acts must have 2 dimensions"):
        find_unit(acts[:, 0], prop)
    with pytest.raises(ValueError, match="prop must have 1 dimensions"):
        find_unit(acts, prop[:, None])
    with pytest.raises(ValueError, match="acts holds NaN"):
        find_unit(np.where(acts > 2, np.nan, acts), prop)
    with pytest.raises(ValueError, match="at least 2 positions"):
        find_unit(acts[:1], prop[:1])
    with pytest.raises(TypeError, match="prop must be an array"):
        find_unit(acts, list(prop))
