#!/usr/bin/python3
"""Dev-only generator for fixtures/images/kinds/ (not part of the package or its tests' runtime).

Needs Pillow 9.4.0 (Debian's python3-pil, run with /usr/bin/python3): it is the Pillow version of
the official BEiT-3 pipeline. Writes small images of many kinds with Pillow, and as expected
outputs Pillow's `Image.open(f).convert("RGB")` (saved as PNG) and that image resized to 24x24
with BICUBIC, plus cases.json. Pure Python (no numpy) so it runs anywhere python3-pil does.

    /usr/bin/python3 test/vision/scripts/make-pil-kinds.py
"""
import io
import json
import os
import struct
import zlib

import PIL
from PIL import Image, PngImagePlugin

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'images', 'kinds')
W, H = 40, 32  # non-square so a transposed decode shows up
S = 24


def plane(f):
    return [f(x, y) for y in range(H) for x in range(W)]


def rgb_image():
    im = Image.new('RGB', (W, H))
    im.putdata([((x * 6 + y) % 256, (y * 8) % 256, (x * y * 3) % 256) for y in range(H) for x in range(W)])
    return im


def gray_image():
    im = Image.new('L', (W, H))
    im.putdata(plane(lambda x, y: (x * 5 + y * 3) % 256))
    return im


def alpha_plane():
    im = Image.new('L', (W, H))
    im.putdata(plane(lambda x, y: 0 if (x + y) % 7 == 0 else (x * 13 + y * 5) % 256))
    return im


def palette_image(colours):
    im = Image.new('P', (W, H))
    pal = []
    for i in range(colours):
        pal += [(i * 53) % 256, (i * 97 + 11) % 256, (255 - i * 31) % 256]
    im.putpalette(pal)
    im.putdata(plane(lambda x, y: (x // 3 + y // 2 * 5) % colours))
    return im


def png16(colour_type, channels, f, extra=b''):
    """Writes a 16-bit PNG by hand (Pillow cannot save 16-bit RGB/RGBA)."""
    rows = b''
    for y in range(H):
        rows += b'\0' + b''.join(struct.pack('>' + 'H' * channels, *f(x, y)) for x in range(W))
    return png_chunks(16, colour_type, rows, extra)


def png_gray_low_depth(bits):
    """Gray PNG at 2 or 4 bits per sample (Pillow reads it as L scaled up, or L;2 / L;4)."""
    per_byte = 8 // bits
    rows = b''
    for y in range(H):
        vals = [(x + y) % (1 << bits) for x in range(W)] + [0] * (-W % per_byte)
        packed = bytes(sum(v << (8 - bits * (i + 1)) for i, v in enumerate(vals[j:j + per_byte])) for j in range(0, len(vals), per_byte))
        rows += b'\0' + packed
    return png_chunks(bits, 0, rows)


def bmp(bpp, pixel_rows, palette=b'', compression=0, top_down=False):
    """Writes a BITMAPINFOHEADER BMP by hand (Pillow only saves 1/8/24/32-bit uncompressed)."""
    if compression:
        data = pixel_rows  # already RLE-encoded
    else:
        stride = (len(pixel_rows[0]) + 3) // 4 * 4
        ordered = pixel_rows if top_down else pixel_rows[::-1]
        data = b''.join(r + bytes(stride - len(r)) for r in ordered)
    offset = 14 + 40 + len(palette)
    info = struct.pack('<IiiHHIIiiII', 40, W, -H if top_down else H, 1, bpp, compression, len(data), 2835, 2835, len(palette) // 4, 0)
    return b'BM' + struct.pack('<IHHI', offset + len(data), 0, 0, offset) + info + palette + data


def bmp_kinds():
    pal16 = b''.join(bytes(((i * 97) % 256, (i * 53) % 256, (255 - i * 31) % 256, 0)) for i in range(16))
    idx = [[(x // 3 + y) % 16 for x in range(W)] for y in range(H)]
    yield 'bmp4bit.bmp', bmp(4, [bytes(r[i] << 4 | r[i + 1] for i in range(0, W, 2)) for r in idx], pal16)
    pal256 = b''.join(bytes(((i * 7) % 256, (i * 3) % 256, i, 0)) for i in range(256))
    rle = b''
    for y in range(H - 1, -1, -1):  # bottom-up
        row = [(x // 5 + y * 3) % 256 for x in range(W)]
        x = 0
        while x < W:
            n = 1
            while x + n < W and n < 255 and row[x + n] == row[x]:
                n += 1
            rle += bytes((n, row[x]))
            x += n
        rle += b'\0\0'
    yield 'rle8.bmp', bmp(8, rle + b'\0\1', pal256, compression=1)
    yield 'bgr555.bmp', bmp(16, [b''.join(struct.pack('<H', (x % 32) | ((y % 32) << 5) | (((x + y) % 32) << 10)) for x in range(W)) for y in range(H)])
    rows = [b''.join(bytes(((x * 6) % 256, (y * 8) % 256, (x * y) % 256)) for x in range(W)) for y in range(H)]
    yield 'top-down.bmp', bmp(24, rows, top_down=True)


def png_chunks(depth, colour_type, rows, extra=b''):

    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))

    ihdr = struct.pack('>IIBBBBB', W, H, depth, colour_type, 0, 0, 0)
    trns = chunk(b'tRNS', extra) if extra else b''
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + trns + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')


def strip_adobe(jpeg):
    """Removes the APP14 "Adobe" segment, so decoders take the CMYK samples as stored."""
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF and jpeg[i + 1] != 0xDA:
        n = struct.unpack('>H', jpeg[i + 2:i + 4])[0]
        if jpeg[i + 1] == 0xEE:
            return jpeg[:i] + jpeg[i + 2 + n:]
        i += 2 + n
    raise ValueError('no Adobe segment')


def save(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def kinds():
    rgb, gray, alpha = rgb_image(), gray_image(), alpha_plane()
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    la = gray.copy()
    la.putalpha(alpha)
    yield 'la.png', save(la, 'PNG')
    p_trns = palette_image(200)
    yield 'p-trns.png', save(p_trns, 'PNG', transparency=3)
    p16 = palette_image(16)
    yield 'p4bit.png', save(p16, 'PNG', bits=4)
    one = gray.point(lambda v: 255 if v > 100 else 0).convert('1', dither=Image.NONE)
    yield 'mode1.png', save(one, 'PNG')
    yield 'mode1.bmp', save(one, 'BMP')
    # 16-bit grayscale: values across 0..65535 (most clip to 255 in Pillow's I -> L) and a low band
    yield 'gray16.png', png16(0, 1, lambda x, y: ((x * 1700 + y * 13) % 65536,) if y < H // 2 else ((x * 7 + y) % 400,))
    yield 'rgb16.png', png16(2, 3, lambda x, y: ((x * 1601) % 65536, (y * 2047 + 5) % 65536, (x * y * 97) % 65536))
    yield 'rgba16.png', png16(6, 4, lambda x, y: ((x * 1601) % 65536, (y * 2047) % 65536, (x * y * 97) % 65536, (x * 900 + y * 300) % 65536))
    yield 'gray-alpha16.png', png16(4, 2, lambda x, y: ((x * 37 + y * 5) % 300, (x * 1500) % 65536))
    cmyk = Image.merge('CMYK', [rgb.getchannel(0), rgb.getchannel(1), rgb.getchannel(2), gray])
    yield 'cmyk.jpg', save(cmyk, 'JPEG', quality=95)
    yield 'cmyk.tif', save(cmyk, 'TIFF')
    yield 'progressive.jpg', save(rgb, 'JPEG', quality=90, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    yield 'exif-orient6.jpg', save(rgb, 'JPEG', quality=90, exif=exif.tobytes())
    yield 'gray.jpg', save(gray, 'JPEG', quality=90)
    yield 'subsample444.jpg', save(rgb, 'JPEG', quality=90, subsampling=0)
    yield 'lossy.webp', save(rgb, 'WEBP', quality=80)
    yield 'lossless-alpha.webp', save(rgba, 'WEBP', lossless=True)
    yield 'lossy-alpha.webp', save(rgba, 'WEBP', quality=80)
    yield 'rgb.tif', save(rgb, 'TIFF', compression='tiff_lzw')
    yield 'rgba.tif', save(rgba, 'TIFF')
    yield 'gray.tif', save(gray, 'TIFF')
    g16 = Image.new('I;16', (W, H))
    g16.putdata(plane(lambda x, y: (x * 1700 + y * 13) % 65536 if y < H // 2 else (x * 7 + y) % 400))
    yield 'gray16.tif', save(g16, 'TIFF')
    yield 'rgb.bmp', save(rgb, 'BMP')
    yield 'p.bmp', save(palette_image(100), 'BMP')
    yield 'gif-trns.gif', save(palette_image(64), 'GIF', transparency=5)
    yield 'rgba32.bmp', save(rgba, 'BMP')
    yield 'gray-trns.png', save(gray, 'PNG', transparency=30)
    i32 = Image.new('I', (W, H))
    i32.putdata(plane(lambda x, y: (x * 9 - 60) * (y + 1) * 3))  # negative and > 255 values
    yield 'int32.tif', save(i32, 'TIFF')
    f32 = Image.new('F', (W, H))
    f32.putdata(plane(lambda x, y: (x * 7.37 - 40.2) * (y * 0.11 + 0.5)))
    yield 'float32.tif', save(f32, 'TIFF')
    yield 'multipage.tif', save(rgb, 'TIFF', save_all=True, append_images=[gray.convert('RGB')])
    try:
        from PIL import ImageCms
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile('LAB')).tobytes()
        icc = icc[:24] + bytes(12) + icc[36:]  # zero the creation date: reproducible files
        yield 'icc-lab-profile.jpg', save(rgb, 'JPEG', quality=90, icc_profile=icc)
        yield 'icc-lab-profile.png', save(rgb, 'PNG', icc_profile=icc)
    except ImportError:
        pass
    yield 'cmyk-no-adobe.jpg', strip_adobe(save(cmyk, 'JPEG', quality=95))
    yield 'p-alpha-palette.png', save(palette_image(32), 'PNG', transparency=bytes((i * 8) % 256 for i in range(32)))
    frames = [rgb, rgb.transpose(Image.FLIP_LEFT_RIGHT)]
    yield 'animated.png', save(frames[0], 'PNG', save_all=True, append_images=frames[1:])
    yield 'animated.webp', save(frames[0], 'WEBP', save_all=True, append_images=frames[1:], lossless=True)
    yield 'gif-rgb-quantized.gif', save(rgb, 'GIF')
    # first frame smaller than the logical screen (screen widened to W+8 x H+4)
    for name, kw in (('gif-small-frame.gif', {}), ('gif-small-frame-trns.gif', {'transparency': 5})):
        g = bytearray(save(palette_image(64), 'GIF', **kw))
        g[6:10] = struct.pack('<HH', W + 8, H + 4)
        g[11] = 7  # background index: Pillow still fills the uncovered area with index 0
        yield name, bytes(g)
    yield 'gray16-trns.png', png16(0, 1, lambda x, y: ((x * 7 + y * 900) % 65536,), extra=struct.pack('>H', 7))
    yield 'gray2bit.png', png_gray_low_depth(2)
    yield 'gray4bit.png', png_gray_low_depth(4)
    yield 'ycbcr-jpeg.tif', save(rgb, 'TIFF', compression='jpeg', quality=90)
    yield 'p.tif', save(palette_image(100), 'TIFF')
    yield 'la.tif', save(la, 'TIFF')
    yield 'mode1-group4.tif', save(one, 'TIFF', compression='group4')
    yield 'rgb16-trns.png', png16(2, 3, lambda x, y: ((x * 1601) % 65536, (y * 2047) % 65536, 0), extra=struct.pack('>HHH', 1601, 2047, 0))
    yield from bmp_kinds()
    info = PngImagePlugin.PngInfo()
    info.add(b'gAMA', struct.pack('>I', 100000))
    yield 'gamma.png', save(rgb, 'PNG', pnginfo=info)


def png_bytes(im):
    # plain copy: convert() may carry a "transparency" entry that would be written as tRNS
    return save(Image.frombytes(im.mode, im.size, im.tobytes()), 'PNG')


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {'generator': 'test/vision/scripts/make-pil-kinds.py', 'pillow': PIL.__version__, 'resize': [S, S, 'BICUBIC'], 'cases': {}}
    for name, data in kinds():
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        mode = im.mode
        rgb = im.convert('RGB')
        stem = name.replace('.', '-')
        with open(os.path.join(OUT, f'{stem}.rgb.png'), 'wb') as f:
            f.write(png_bytes(rgb))
        with open(os.path.join(OUT, f'{stem}.resized.png'), 'wb') as f:
            f.write(png_bytes(rgb.resize((S, S), Image.BICUBIC)))
        cases['cases'][name] = {'pil_mode': mode, 'size_wh': list(im.size), 'rgb': f'{stem}.rgb.png', 'resized': f'{stem}.resized.png'}
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump(cases, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
