"""Photos of digits as people take them (`deltaprop predict MODEL photo.jpg`): a sheet of
paper lying askew on a darker desk, a sheet running off the photo, a digit cropped to its
ink. Digits of the bundled mnist-sample set are laid on paper, turned, lit unevenly and
saved as JPEGs, and read by a small model trained on the set once for the module."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import deltaprop as dp
from deltaprop.data import load
from deltaprop.images import read_image, to_mnist


@pytest.fixture(scope="module")
def digits():
    return load("mnist-sample")


@pytest.fixture(scope="module")
def net(digits):
    """An MLP trained on mnist-sample's 4,000 training digits (about 0.9 of its test digits right)."""
    net = dp.mlp([784, 64, 10], seed=0, dtype="float64")
    dp.fit(
        net,
        digits.x_train.reshape(-1, 784) / 255.0,
        digits.y_train,
        loss=dp.CrossEntropy(),
        optimizer=dp.Adam(lr=1e-3),
        epochs=4,
        batch_size=64,
        seed=0,
    )
    return net


def _on_desk(digit, angle, *, seed=0, crop=None, desk=50):
    """An MNIST digit written dark on a 300x380 sheet (230), the sheet turned ``angle``
    degrees on a darker desk, lit from the right (a quarter darker at the left), with
    noise, saved as a JPEG (quality 85); ``crop`` keeps a box of it."""
    rng = np.random.default_rng(seed)
    big = Image.fromarray(digit).resize((168, 168), Image.BICUBIC)
    sheet = Image.new("L", (300, 380), 230)
    sheet.paste(Image.fromarray(255 - np.asarray(big)), (66, 106), big)
    turned = sheet.rotate(angle, expand=True, resample=Image.BICUBIC)
    photo = Image.new("L", (turned.width + 160, turned.height + 140), desk)
    photo.paste(turned, (80, 70), Image.new("L", sheet.size, 255).rotate(angle, expand=True))
    levels = np.asarray(photo, dtype=np.float64)
    levels = levels * (0.75 + 0.25 * np.arange(levels.shape[1]) / levels.shape[1]) + rng.normal(0, 3, levels.shape)
    img = Image.fromarray(np.clip(levels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    (img.crop(crop(img.size)) if crop else img).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _accuracy(net, digits, tmp_path, angle, n=30, **kw):
    right, notes = 0, set()
    for i in range(n):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(_on_desk(digits.x_test[i], angle, seed=i, **kw))
        read = read_image(path)
        right += int(net.predict(read.pixels.reshape(1, 784) / 255.0)[0]) == digits.y_test[i]
        notes.add(read.notes)
    return right / n, notes


@pytest.mark.slow
@pytest.mark.parametrize("angle", [6, 10, -15, 30])
def test_a_sheet_askew_on_a_desk_is_straightened_and_read(tmp_path, digits, net, angle):
    """Turned 6 degrees or more, the sheet's upright box held the desk's corners: the sheet
    itself was read as a white digit, 2 to 5 in 30 right, without a word. Now its turn is
    found, the photo straightened, and the digits read as on an upright sheet."""
    upright, _ = _accuracy(net, digits, tmp_path, 0)
    accuracy, notes = _accuracy(net, digits, tmp_path, angle)
    assert upright >= 0.9 and accuracy >= upright - 0.05
    assert {n[0] for n in notes} == {
        f"a light sheet on a darker surface, lying {abs(angle)} degrees askew: straightened and read inside the sheet"
    }


def _likeness(read, digit, angle=0):
    """The correlation of a read image's levels with the 28x28 image made of the digit alone (scaled as on the sheet)."""
    big = Image.fromarray(digit).resize((168, 168), Image.BICUBIC).rotate(angle, resample=Image.BICUBIC)
    return np.corrcoef(read.pixels.ravel().astype(float), to_mnist(np.asarray(big, dtype=np.float64)).ravel())[0, 1]


def test_a_turned_sheet_reads_as_the_digit_alone(tmp_path, digits):
    """The 28x28 image made of a photo of a sheet turned 12 degrees is the one made of the digit itself."""
    (tmp_path / "desk.jpg").write_bytes(_on_desk(digits.x_test[1], 12))
    read = read_image(tmp_path / "desk.jpg")
    assert _likeness(read, digits.x_test[1]) > 0.95
    assert read.notes[0] == "a light sheet on a darker surface, lying 12 degrees askew: straightened and read inside the sheet"


def test_a_sheet_running_off_the_photo_is_straightened_by_its_edges_with_the_fix(tmp_path, digits):
    """A turned sheet whose top runs off the photo: it was read as a white block with the
    digit in it, without a word. Its edges inside the photo agree on its turn: it is
    straightened by them and read inside its outline, and the note says how to make the
    photo readable should the answer look wrong."""
    (tmp_path / "off.jpg").write_bytes(_on_desk(digits.x_test[1], 10, crop=lambda size: (0, 130, *size)))
    read = read_image(tmp_path / "off.jpg")
    assert _likeness(read, digits.x_test[1]) > 0.95
    assert read.notes[0] == (
        "a light sheet on a darker surface, running off the photo, lying 10 degrees askew: straightened by its "
        "edges in the photo and read inside its outline: if the answer looks wrong, straighten the photo and crop "
        "it to the paper"
    )


def test_a_slanted_sheet_running_off_the_photo_is_read_as_it_lies_with_the_fix(tmp_path, digits):
    """A sheet turned about 12 degrees and seen at a slant (its sides 3 degrees apart) whose
    top runs off the photo: its edges do not agree on a turn, so it is read inside its
    outline as it lies, and the note says so, with the fix."""
    from PIL import ImageDraw

    photo = Image.new("L", (400, 360), 50)
    ImageDraw.Draw(photo).polygon([(100, -50), (380, -30), (300, 300), (30, 320)], fill=230)
    big = Image.fromarray(digits.x_test[1]).resize((168, 168), Image.BICUBIC)
    photo.paste(Image.fromarray(255 - np.asarray(big)), (116, 60), big)
    photo.save(tmp_path / "slant.png")
    read = read_image(tmp_path / "slant.png")
    assert _likeness(read, digits.x_test[1]) > 0.95
    assert read.notes[0] == (
        "a light sheet on a darker surface, not straightened (it runs off the photo or is seen at a slant) but read "
        "inside its outline: if the answer looks wrong, straighten the photo and crop it to the paper"
    )


def _cropped_to_ink(draw, path):
    """A digit drawn dark with a 22-pixel pen on white 300x400 by ``draw``, saved cropped to its ink."""
    from PIL import ImageDraw

    img = Image.new("L", (300, 400), 255)
    draw(ImageDraw.Draw(img))
    img.crop(Image.eval(img, lambda v: 255 - v).getbbox()).save(path)
    return path


def _seven(d):
    d.line([(60, 80), (240, 80), (130, 330)], fill=0, width=22)


def _two(d):
    d.arc((70, 60, 230, 200), 180, 40, fill=0, width=22)
    d.line([(215, 165), (70, 330), (240, 330)], fill=0, width=22)


@pytest.mark.parametrize("digit, side", [(_seven, "top"), (_two, "bottom")])
def test_a_digit_cropped_to_its_ink_gets_no_note_to_crop_to_the_paper(tmp_path, digit, side):
    """A 7's bar (a 2's foot) runs along the whole top (bottom) edge of a digit cropped to
    its ink: it was taken for a desk beside the sheet, with a note to crop the photo to the
    paper. A stroke joined to the rest of the digit, no deeper than its strokes are wide, is the digit's own."""
    read = read_image(_cropped_to_ink(digit, tmp_path / "tight.png"))
    assert read.notes == ("dark ink on light paper, inverted to white ink on black",)


@pytest.mark.parametrize("right", [60, 135])
def test_a_strip_of_desk_beside_the_digit_still_gets_the_note(tmp_path, right):
    """A strip of desk along the left edge, apart from the 7 (to x = 60) or touching it (to x = 135)."""
    from PIL import ImageDraw

    photo = Image.new("L", (400, 400), 235)
    ImageDraw.Draw(photo).line([(130, 100), (300, 100), (190, 320)], fill=10, width=22)
    ImageDraw.Draw(photo).rectangle((0, 0, right, 399), fill=40)
    photo.save(tmp_path / "strip.png")
    assert read_image(tmp_path / "strip.png").notes[-1] == (
        "the ink runs along its whole left edge: if that is the surface around a sheet of paper, crop the photo to the paper"
    )


def _on_ruled_paper(digit, *, squared=False, angle=0.0):
    """An MNIST digit in pencil (level 110) on a page (235) ruled every 28 pixels with lines
    (180) 2 pixels thick, across and also down for squared paper, the photo turned ``angle``
    degrees, saved as a JPEG."""
    page = np.full((300, 300), 235.0)
    for at in range(15, 300, 28):
        page[at : at + 2] = 180
        if squared:
            page[:, at : at + 2] = 180
    big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.BICUBIC), dtype=np.float64) / 255
    page[66:234, 66:234] = np.minimum(page[66:234, 66:234], 235 + (110 - 235) * big)
    img = Image.fromarray(page.astype(np.uint8)).rotate(angle, resample=Image.BICUBIC, fillcolor=235)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("squared, angle", [(False, 0.0), (True, 0.0), (False, -1.0), (False, 2.0)])
def test_a_digit_on_ruled_or_squared_paper_is_read_without_the_lines(tmp_path, digits, net, squared, angle):
    """A notebook's lines, made white with the ink, were read with the digit (5 of 30 right),
    without a word. Now lines that run across the image, thin and evenly spaced, are left out
    (a photo turned up to 5 degrees too), but where the digit crosses them, and a note says so."""
    right, notes = 0, set()
    for i in range(30):
        (tmp_path / "page.jpg").write_bytes(_on_ruled_paper(digits.x_test[i], squared=squared, angle=angle))
        read = read_image(tmp_path / "page.jpg")
        right += int(net.predict(read.pixels.reshape(1, 784) / 255.0)[0]) == digits.y_test[i]
        notes.add(read.notes)
    assert right >= 27
    kind = "squared" if squared else "ruled"
    assert notes == {
        (
            "dark ink on light paper, inverted to white ink on black",
            f"the {kind} paper's lines left out, the digit read without them",
        )
    }


@pytest.mark.parametrize("first, second", [(1, 0), (7, 3)])
def test_two_digits_in_one_image_are_said_to_be_read_as_one(tmp_path, digits, first, second):
    """ "10" written on paper was read as one digit, and answered as one, without a word."""
    pick = [digits.x_test[np.flatnonzero(digits.y_test == label)[0]] for label in (first, second)]
    row = np.full((200, 360), 235.0)
    for at, digit in zip((10, 182), pick):
        big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.BICUBIC), dtype=np.float64) / 255
        row[16:184, at : at + 168] = 235 + (20 - 235) * big
    Image.fromarray(row.astype(np.uint8)).save(tmp_path / "row.png")
    assert read_image(tmp_path / "row.png").notes[-1] == (
        "the ink is in 2 parts side by side, as 2 digits in a row are: the model reads one digit an image, so its "
        "answer is for them all together; crop each digit to an image of its own"
    )


def _dark_mode_screen(digit):
    """A phone's photo of a screen in dark mode: an MNIST digit drawn light (230) on the app's
    dark gray (45), inside the screen's black bezel (8), saved as a JPEG."""
    photo = np.full((300, 360), 8.0)
    big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.BICUBIC), dtype=np.float64) / 255
    photo[30:270, 30:330] = 45
    photo[66:234, 96:264] = 45 + (230 - 45) * big
    out = io.BytesIO()
    Image.fromarray(photo.astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.slow
def test_a_photo_of_a_screen_in_dark_mode_reads_the_digit_not_the_screen(tmp_path, digits, net):
    """The dark gray screen, lighter than its black bezel, was ink: the screen was read as
    the digit (7 of 30 right), with a note taking it for a sheet of paper. Now the level of
    most of the image is the background where it is higher than the border's."""
    right = 0
    for i in range(30):
        (tmp_path / "screen.jpg").write_bytes(_dark_mode_screen(digits.x_test[i]))
        read = read_image(tmp_path / "screen.jpg")
        right += int(net.predict(read.pixels.reshape(1, 784) / 255.0)[0]) == digits.y_test[i]
        assert read.notes == ()
    assert right >= 27


def test_a_tiff_of_32_bit_integer_levels_is_read_as_its_16_bit_twin(tmp_path, digits):
    """A TIFF of 32-bit integers holding 16-bit levels (as scientific cameras save) was
    clipped to white by the conversion to 8 bits: 'the image is blank'."""
    levels = (255 - digits.x_test[1]).astype(np.int32) * 257
    Image.fromarray(levels, "I").save(tmp_path / "wide.tif")
    Image.fromarray((levels // 257).astype(np.uint8)).save(tmp_path / "narrow.png")
    assert np.array_equal(read_image(tmp_path / "wide.tif").pixels, read_image(tmp_path / "narrow.png").pixels)


def _in_shadow(digit, darkest):
    """An MNIST digit (ink 20) on paper (235) in a 288x288 photo lit from the right, the
    paper's level falling to ``darkest`` of its full light at the left edge, saved as a JPEG."""
    page = np.full((288, 288), 235.0)
    big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.BICUBIC), dtype=np.float64) / 255
    page[60:228, 60:228] = 235 + (20 - 235) * big
    out = io.BytesIO()
    Image.fromarray((page * np.linspace(darkest, 1.0, 288)).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("darkest", [0.4, 0.25])
def test_paper_in_a_deep_shadow_is_evened_out(tmp_path, digits, net, darkest):
    """Paper whose shaded side is darker than the middle of the photo's levels was ink there:
    read with the digit (4 or 0 of 30 right), with a note taking it for a desk. Now the
    paper's light is found tile by tile and divided out, and a note says so."""
    right, notes = 0, set()
    for i in range(30):
        (tmp_path / "shade.jpg").write_bytes(_in_shadow(digits.x_test[i], darkest))
        read = read_image(tmp_path / "shade.jpg")
        right += int(net.predict(read.pixels.reshape(1, 784) / 255.0)[0]) == digits.y_test[i]
        notes.add(read.notes[1].split(" (")[0])
    assert right >= 27
    assert notes == {"the paper's uneven light evened out"}


@pytest.mark.slow
def test_no_bold_mnist_digit_is_taken_for_a_sheet_or_a_ruled_page(digits):
    """Bold digits fill up to 80% of their hull (test digits 533 and 683, white on black,
    scaled 4x, were read inside their outline as sheets); a 3 cropped to its ink (test
    digit 779, 20x16) had its strokes left out as a ruled page's lines."""
    from deltaprop.sheet import ruled_lines, sheet_turn

    for digit in digits.x_test[:1000]:
        big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.BICUBIC), dtype=np.float64)
        assert sheet_turn(big / 255) is None
        ink = digit > 38
        tight = ink[np.ix_(np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0)))]
        assert not ruled_lines(tight).any() and not ruled_lines(tight.T).any()
