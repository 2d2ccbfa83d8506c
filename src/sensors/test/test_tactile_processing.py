"""Tactile estimates on synthetic gel images with a known contact disc and known marker shifts.

Tolerances (320x240 gel, 117 markers 24 px apart, pixel noise sigma 1.5):
contact area within 10 % of the disc's, normal-load proxy within 15 % of area x change / 255,
mean marker shift within 0.25 px, markers outside the contact within 0.3 px of rest.
"""
import numpy as np
import pytest

from sensors.gel_synth import Indentation, indented_markers, marker_grid, render_gel
from sensors.tactile_processing import TactileConfig, TactileProcessor

W, H = 320, 240
GRID = marker_grid(W, H)
PRESS = Indentation(cx=150.0, cy=110.0, radius=40.0, delta=40.0)


@pytest.fixture
def proc():
    p = TactileProcessor()
    p.set_reference(render_gel(W, H, GRID, seed=1))
    return p


def test_markers_found_with_subpixel_accuracy(proc):
    assert len(proc.markers_ref) == len(GRID) == 117
    d = np.linalg.norm(proc.markers_ref[:, None] - GRID[None], axis=2).min(axis=1)
    assert d.max() < 0.1
    assert proc.spacing == pytest.approx(24.0, abs=0.2)


def test_untouched_gel_shows_no_contact(proc):
    r = proc.process(render_gel(W, H, GRID, seed=7))  # fresh noise only
    assert r.contact_area == 0.0 and r.normal_load == 0.0 and not r.contact_mask.any()
    assert np.abs(r.shear).max() < 0.05 and r.tracked.all()


def test_known_indentation_area_and_load(proc):
    r = proc.process(render_gel(W, H, GRID, indentations=[PRESS], seed=2))
    true_area = np.pi * PRESS.radius**2 / (W * H)
    assert r.contact_area == pytest.approx(true_area, rel=0.10)
    assert r.normal_load == pytest.approx(true_area * PRESS.delta / 255.0, rel=0.15)
    ys, xs = np.nonzero(r.contact_mask)
    assert np.mean(xs) == pytest.approx(PRESS.cx, abs=1.0) and np.mean(ys) == pytest.approx(PRESS.cy, abs=1.0)
    assert r.contact_mask.dtype == np.uint8 and set(np.unique(r.contact_mask)) == {0, 255}
    assert r.contact_mask[int(PRESS.cy), int(PRESS.cx)] == 255 and r.contact_mask[5, 5] == 0
    diff = r.difference_rgb8()
    assert diff.dtype == np.uint8 and diff[int(PRESS.cy), int(PRESS.cx)].mean() == pytest.approx(128 + 40, abs=5)
    assert diff[5, 5].mean() == pytest.approx(128, abs=5)


def test_deeper_press_gives_larger_load(proc):
    loads = []
    for radius, delta in [(20, 25), (40, 40), (55, 60)]:
        r = proc.process(render_gel(W, H, GRID, indentations=[Indentation(160, 120, radius, delta)], seed=3))
        loads.append(r.normal_load)
    assert loads[0] < loads[1] < loads[2]


@pytest.mark.parametrize("shift", [(2.5, -1.5), (-4.0, 3.0), (0.6, 0.3)])
def test_known_marker_shift(proc, shift):
    """The whole gel sheared in one frame: the mean shear equals the shift, and marker motion alone
    is not mistaken for contact."""
    r = proc.process(render_gel(W, H, indented_markers(GRID, shift), seed=4))
    np.testing.assert_allclose(r.shear, shift, atol=0.25)
    assert r.tracked.all()
    assert r.contact_area < 0.002
    table = r.displacement_table()
    assert table.shape == (117, 5) and table.dtype == np.float32
    np.testing.assert_allclose(table[:, 2:4], np.tile(shift, (117, 1)), atol=0.3)


def test_large_shift_is_tracked_frame_by_frame(proc):
    """12 px (half the marker spacing) is ambiguous in one step; in 1.5 px steps it is tracked."""
    for k in range(1, 9):
        r = proc.process(render_gel(W, H, indented_markers(GRID, (1.5 * k, 0.0)), seed=10 + k))
    np.testing.assert_allclose(r.shear, (12.0, 0.0), atol=0.25)
    assert r.tracked.mean() > 0.9


def test_local_shear_under_a_press(proc):
    shift = (3.0, 2.0)
    inside = np.hypot(GRID[:, 0] - PRESS.cx, GRID[:, 1] - PRESS.cy) <= PRESS.radius
    r = None
    for k in (1, 2):  # press and drag in two steps
        step = (shift[0] * k / 2, shift[1] * k / 2)
        r = proc.process(render_gel(W, H, indented_markers(GRID, step, PRESS), indentations=[PRESS], seed=20 + k))
    order = np.argmin(np.linalg.norm(r.markers_ref[:, None] - GRID[None], axis=2), axis=1)
    moved = inside[order]
    np.testing.assert_allclose(r.displacement[moved], np.tile(shift, (moved.sum(), 1)), atol=0.3)
    assert np.abs(r.displacement[~moved]).max() < 0.3
    np.testing.assert_allclose(r.shear, np.array(shift) * inside.mean(), atol=0.05)
    assert r.contact_area == pytest.approx(np.pi * PRESS.radius**2 / (W * H), rel=0.10)


def test_reference_recapture_after_lighting_change():
    p = TactileProcessor(TactileConfig(reference_frames=3))
    for i in range(3):
        assert p.add_reference_frame(render_gel(W, H, GRID, seed=30 + i)) == (i == 2)
    brighter = [Indentation(W / 2, H / 2, 1000.0, 20.0)]  # the LEDs warmed up: the whole gel is brighter
    assert p.process(render_gel(W, H, GRID, indentations=brighter, seed=40)).contact_area > 0.9
    p.request_reference()
    assert not p.has_reference
    with pytest.raises(RuntimeError, match="no reference frame yet"):
        p.process(render_gel(W, H, GRID))
    for i in range(3):
        p.add_reference_frame(render_gel(W, H, GRID, indentations=brighter, seed=50 + i))
    r = p.process(render_gel(W, H, GRID, indentations=brighter + [PRESS], seed=60))
    assert r.contact_area == pytest.approx(np.pi * PRESS.radius**2 / (W * H), rel=0.10)


def test_size_change_and_markerless_gel():
    p = TactileProcessor()
    p.set_reference(render_gel(W, H, None, seed=1))
    r = p.process(render_gel(W, H, None, indentations=[PRESS], seed=2))
    assert len(r.markers_ref) == 0 and r.shear.tolist() == [0.0, 0.0] and r.contact_area > 0.05
    with pytest.raises(ValueError, match="differs from the reference"):
        p.process(render_gel(160, 120, None))
