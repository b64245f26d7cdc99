"""Page geometry before OCR: blank pages, sideways pages, small skew, and the transforms that
straighten a page (with their inverse, to put word boxes back on the original page).

Everything works on an 8-bit grey image as a numpy array. The analysis runs on a copy scaled
down to about `ANALYSIS_WIDTH` pixels and on its *ink* (pixels darker than an Otsu threshold),
so it costs milliseconds whatever the page resolution:

- blank: less than `BLANK_INK` of the page is ink (ink: darker than Otsu's threshold and
  clearly darker than the paper, so that scanner noise is not ink);
- skew: the angle whose projection profile (ink per text row, counted along that angle) is
  sharpest, searched over +-`MAX_SKEW` degrees. Rows are counted with one `bincount` per
  angle over the ink pixels' sheared row index, so no image is rotated while searching;
- sideways (90 or 270 degrees): the profile across columns is sharper than across rows.
  Which of the two turns (or upright versus upside down) is right is decided by the OCR
  itself, by confidence (see `ingest.ocr.page`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ANALYSIS_WIDTH",
    "BLANK_INK",
    "MAX_SKEW",
    "PageInk",
    "Transform",
    "estimate_skew",
    "ink_mask",
    "is_blank",
    "is_sideways",
    "rotate_quarter",
    "straighten",
]

#: Width, in pixels, of the copy the analysis runs on.
ANALYSIS_WIDTH: Final = 800
#: A page with a smaller share of ink pixels than this is blank (a line of 12 pt text on a
#: Letter page is about ten times as much).
BLANK_INK: Final = 0.0002
# Ink is at least this much darker than the paper (its 90th-percentile grey): scanner noise
# and paper texture are not ink.
_INK_CONTRAST: Final = 60
#: Largest skew looked for, in degrees.
MAX_SKEW: Final = 5.0
# A profile must be this much sharper across columns than across rows to call a page sideways.
_SIDEWAYS_RATIO: Final = 1.25
# Fewer ink pixels than this in the analysis copy: too little to measure skew on.
_MIN_INK_PIXELS: Final = 400
# More ink pixels than this are subsampled evenly before measuring.
_MAX_POINTS: Final = 40_000


def _small(gray: np.ndarray) -> np.ndarray:
    import numpy as np
    from PIL import Image

    h, w = gray.shape[:2]
    if w <= ANALYSIS_WIDTH:
        return gray
    size = (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def _otsu_ink(small: np.ndarray) -> np.ndarray:
    """Boolean mask of ink (Otsu's threshold; the darker class, or the lighter one on a
    light-on-dark page)."""
    import numpy as np

    hist = np.bincount(small.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if int(small.max()) - int(small.min()) < 40:  # one flat colour: no ink worth the name
        return np.zeros(small.shape, dtype=bool)
    levels = np.arange(256)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean * total) ** 2 / (weight * (total - weight))
    threshold = int(np.argmax(np.nan_to_num(between)))
    dark = small <= threshold
    if dark.mean() > 0.5:  # light on dark: the paper is the dark class
        paper = float(np.percentile(small, 10))
        return (~dark) & (small >= paper + _INK_CONTRAST)
    paper = float(np.percentile(small, 90))
    return dark & (small <= paper - _INK_CONTRAST)


class PageInk:
    """The ink of a page's analysis copy, as point coordinates (see the module docstring).

    `share` is the fraction of the page that is ink; `rotated(degrees)` gives the same ink
    as it lies on the page turned clockwise by a quarter turns.
    """

    __slots__ = ("height", "share", "width", "xs", "ys")

    def __init__(self, ys: np.ndarray, xs: np.ndarray, width: int, height: int, share: float):
        self.ys, self.xs, self.width, self.height, self.share = ys, xs, width, height, share

    @classmethod
    def of(cls, gray: np.ndarray) -> PageInk:
        import numpy as np

        small = _small(gray)
        mask = _otsu_ink(small)
        ys, xs = np.nonzero(mask)
        if len(ys) > _MAX_POINTS:  # an even subsample measures the same profile
            step = len(ys) // _MAX_POINTS + 1
            ys, xs = ys[::step], xs[::step]
        h, w = small.shape[:2]
        return cls(ys.astype(np.float64), xs.astype(np.float64), w, h, float(mask.mean()))

    def rotated(self, degrees: int) -> PageInk:
        turns = (degrees // 90) % 4
        w, h = self.width, self.height
        if turns == 0:
            return self
        if turns == 1:
            return PageInk(self.xs, h - self.ys, h, w, self.share)
        if turns == 2:
            return PageInk(h - self.ys, w - self.xs, w, h, self.share)
        return PageInk(w - self.xs, self.ys, h, w, self.share)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean mask of ink on the analysis copy of `gray`."""
    return _otsu_ink(_small(gray))


def is_blank(ink: PageInk) -> bool:
    """Whether the page holds (almost) no ink."""
    return ink.share < BLANK_INK


def _sharpness(ys: np.ndarray, xs: np.ndarray, angle: float) -> float:
    """How peaked the row profile of the ink is when rows run at `angle` degrees."""
    import numpy as np

    rows = ys - xs * np.tan(np.radians(angle))
    rows = np.round(rows - rows.min()).astype(np.int64)
    profile = np.bincount(rows).astype(np.float64)
    # Squared coefficient of variation: scale free, so rows and columns compare.
    mean = profile.mean()
    return float((profile**2).mean() / (mean * mean)) if mean else 0.0


def _best_angle(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float]:
    import numpy as np

    coarse = np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.5)
    scores = [_sharpness(ys, xs, a) for a in coarse]
    best = float(coarse[int(np.argmax(scores))])
    lo, hi = max(-MAX_SKEW, best - 0.4), min(MAX_SKEW, best + 0.4)
    fine = np.arange(lo, hi + 1e-9, 0.1)
    fine_scores = [_sharpness(ys, xs, a) for a in fine]
    i = int(np.argmax(fine_scores))
    return float(fine[i]), float(fine_scores[i])


def estimate_skew(ink: PageInk) -> float:
    """The angle, in degrees, that text rows slope by (positive: falling to the right, in
    image coordinates); 0.0 when there is too little ink to tell."""
    if len(ink.ys) < _MIN_INK_PIXELS:
        return 0.0
    angle, score = _best_angle(ink.ys, ink.xs)
    # Keep 0 unless the slope is clearly better: noise should not tilt a straight page.
    if score < _sharpness(ink.ys, ink.xs, 0.0) * 1.02:
        return 0.0
    return round(angle, 2)


def is_sideways(ink: PageInk) -> bool:
    """Whether the text runs top to bottom (the page is turned by 90 or 270 degrees)."""
    if len(ink.ys) < _MIN_INK_PIXELS:
        return False
    _, rows = _best_angle(ink.ys, ink.xs)
    _, cols = _best_angle(ink.xs, ink.ys)
    return cols > rows * _SIDEWAYS_RATIO


class Transform:
    """An affine map from original page pixels to working-image pixels, kept as a 3x3 matrix
    so that rotations and deskews compose; `to_original` maps points back."""

    __slots__ = ("matrix",)

    def __init__(self, matrix: np.ndarray | None = None) -> None:
        import numpy as np

        self.matrix = np.eye(3) if matrix is None else matrix

    def then(self, matrix: np.ndarray) -> Transform:
        """This transform followed by `matrix` (3x3)."""
        return Transform(matrix @ self.matrix)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Working-image points (N x 2) back in original page pixels."""
        import numpy as np

        inverse = np.linalg.inv(self.matrix)
        homogeneous = np.hstack([points, np.ones((len(points), 1))])
        return (homogeneous @ inverse.T)[:, :2]


def rotate_quarter(
    gray: np.ndarray, degrees: int, transform: Transform
) -> tuple[np.ndarray, Transform]:
    """`gray` turned clockwise by 0, 90, 180 or 270 degrees, and the composed transform."""
    import numpy as np

    h, w = gray.shape[:2]
    turns = (degrees // 90) % 4
    if turns == 0:
        return gray, transform
    if turns == 1:  # clockwise: (x, y) -> (h - y, x)
        m = np.array([[0.0, -1.0, h], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    elif turns == 2:  # (x, y) -> (w - x, h - y)
        m = np.array([[-1.0, 0.0, w], [0.0, -1.0, h], [0.0, 0.0, 1.0]])
    else:  # counter-clockwise: (x, y) -> (y, w - x)
        m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w], [0.0, 0.0, 1.0]])
    return np.ascontiguousarray(np.rot90(gray, k=-turns)), transform.then(m)


def straighten(gray: np.ndarray, skew: float, transform: Transform) -> tuple[np.ndarray, Transform]:
    """`gray` turned so that rows falling to the right by `skew` degrees are level, on a
    canvas that keeps every corner (the new area white); and the composed transform."""
    import numpy as np
    from PIL import Image

    if not skew:
        return gray, transform
    h, w = gray.shape[:2]
    # Rows falling to the right are levelled by turning the page counter-clockwise on screen
    # (y points down): x' = c x + s y, y' = -s x + c y, about the centre.
    rad = np.radians(skew)
    c, s = float(np.cos(rad)), float(np.sin(rad))
    new_w = int(np.ceil(h * abs(s) + w * abs(c)))
    new_h = int(np.ceil(h * abs(c) + w * abs(s)))
    forward = np.array(
        [
            [c, s, new_w / 2 - (c * w / 2 + s * h / 2)],
            [-s, c, new_h / 2 - (-s * w / 2 + c * h / 2)],
            [0.0, 0.0, 1.0],
        ]
    )
    inverse = np.linalg.inv(forward)
    # Pillow's affine transform maps each output pixel back to its input position.
    coeffs = tuple(float(v) for v in inverse[:2].ravel())
    out = Image.fromarray(gray).transform(
        (new_w, new_h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=255
    )
    return np.asarray(out), transform.then(forward)
