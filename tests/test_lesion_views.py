"""Zoomed-in views of the lesion images for the lesion class: centre crops, no mask."""

from __future__ import annotations

import numpy as np
import pytest

from diffseg.data.lesion_views import centre_box, lesion_training_set, zoomed_lesion_views
from diffseg.runtime.errors import ConfigError


def test_the_box_is_centred_and_one_over_zoom_of_each_side():
    assert centre_box(40, 40, 4) == (15, 15, 10, 10)
    assert centre_box(40, 80, 2) == (10, 20, 20, 40)
    assert centre_box(40, 40, 1) == (0, 0, 40, 40)
    with pytest.raises(ConfigError, match="lesion_views.zooms"):
        centre_box(40, 40, 0.5)


def test_a_zoomed_view_of_a_central_lesion_is_lesion_to_the_frame_edges():
    image = np.full((1, 32, 32, 3), 200, dtype=np.uint8)
    image[0, 10:22, 10:22] = 20  # the dark lesion, 14 % of the frame
    two, four = zoomed_lesion_views(image, [2, 4])
    assert two.shape == four.shape == (32, 32, 3)
    assert four.max() <= 20  # the 8-px centre box lies inside the lesion: the view is lesion only
    assert (two[:, :, 0] < 110).mean() > 0.5  # the 16-px box: the lesion covers (12 / 16)² of the view
    assert (image[0, :, :, 0] <= 20).mean() < 0.2


def test_views_follow_the_frames_in_image_order():
    images = np.stack([np.full((16, 16, 3), value, dtype=np.uint8) for value in (10, 200, 90)])
    views = zoomed_lesion_views(images, [2, 4])
    assert views.shape == (6, 16, 16, 3)
    for i, value in enumerate((10, 200, 90)):
        assert (views[2 * i : 2 * i + 2] == value).all()
    training = lesion_training_set(images, [2, 4])
    np.testing.assert_array_equal(training[:3], images)
    np.testing.assert_array_equal(training[3:], views)
    assert lesion_training_set(images, []) is images
