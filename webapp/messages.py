"""What the server says, in the page's language: the library's refusals and warnings a visitor can
meet and the page's own notes, each an English template with its Chinese.

Library messages stay English in `mmdemo` (API users and logs read them). `say` matches a message
against the English templates here and fills in the Chinese; a message no template knows is shown as
it is. `tests/test_bad_input.py` checks that every refusal and warning of its corpus translates.
"""

from __future__ import annotations

import re

import gradio as gr

from webapp.i18n import language

# English templates of the messages a visitor can meet ({name}: any text) and their Chinese.
MESSAGES = dict(
    [
        (
            "the image is {mp} megapixels; the limit is {limit}: resize it (a face needs no "
            "more than 1000 px a side)",
            "图片有 {mp} 百万像素，上限是 {limit}：请缩小它（一张人脸每边 1000 像素就足够了）",
        ),
        (
            "the face file is not a readable image (it may be corrupt, truncated or another "
            "kind of file); upload a PNG or JPEG photo ({kind})",
            "人脸文件不是可读的图片（可能已损坏、不完整或是别的文件）；请上传 PNG 或 JPEG 照片（{kind}）",
        ),
        (
            "the face is not an image; upload a PNG or JPEG photo",
            "人脸不是一张图片；请上传 PNG 或 JPEG 照片",
        ),
        (
            "the face has shape {shape}; expected height x width (x 3 or 4 channels)",
            "人脸的形状是 {shape}；应为 高 x 宽（x 3 或 4 个通道）",
        ),
        (
            "the image is {w}x{h} pixels, too small to show a face; use at least {m}x{m2}",
            "图片只有 {w}x{h} 像素，太小，看不清人脸；请至少使用 {m}x{m2}",
        ),
        (
            "the image holds NaN or infinite pixel values; save it again as PNG or JPEG",
            "图片中有 NaN 或无穷大的像素值；请重新保存为 PNG 或 JPEG",
        ),
        (
            "unsupported pixel type {dtype}; use an 8- or 16-bit PNG or a JPEG",
            "不支持的像素类型 {dtype}；请使用 8 位或 16 位的 PNG，或 JPEG",
        ),
        (
            "no face was found, so the centre of the image was used",
            "没有找到人脸，因此使用了图片的中心部分",
        ),
        (
            "audio must be a (sample_rate, samples) pair, e.g. (16000, numpy_array)",
            "音频必须是（采样率, 采样）这样一对，例如 (16000, numpy_array)",
        ),
        (
            "the sample rate {sr} is not a number of samples per second",
            "采样率 {sr} 不是每秒采样数",
        ),
        (
            "the audio holds no numeric samples; record again or upload a WAV file",
            "音频中没有数值采样；请重新录音或上传 WAV 文件",
        ),
        (
            "the recording is longer than {s} s; only the first {s2} s were used",
            "录音超过 {s} 秒；只使用了前 {s2} 秒",
        ),
        (
            "the recording is shorter than 0.1 s; record a sentence of one to four seconds",
            "录音短于 0.1 秒；请录一句一到四秒的话",
        ),
        (
            "the recording was very quiet, so it was amplified by {db} dB; speak closer to "
            "the microphone for a cleaner reading",
            "录音很轻，因此被放大了 {db} dB；请靠近麦克风说话，读取会更准确",
        ),
        (
            "no voice detected: the recording is silent; check the microphone and record again",
            "没有检测到声音：录音是静音的；请检查麦克风后重新录音",
        ),
        (
            "audio samples must be numbers, got dtype {dtype}",
            "音频采样必须是数字，收到的类型是 {dtype}",
        ),
        (
            "audio of shape {shape} has no plausible channel axis; pass mono (N,) or "
            "multi-channel (N, C) / (C, N) with at most {n} channels",
            "形状为 {shape} 的音频没有合理的声道维度；请传入单声道 (N,) 或最多 {n} 个声道的 (N, C) / (C, N)",
        ),
        (
            "sample rate must be a number of Hz, got {sr}",
            "采样率必须是以赫兹计的数字，收到的是 {sr}",
        ),
        (
            "sample rate must be a positive number of Hz, got {sr}",
            "采样率必须是正的赫兹数，收到的是 {sr}",
        ),
        (
            "audio must be 1-D (mono) or 2-D (channels), got an array of shape {shape}",
            "音频必须是一维（单声道）或二维（多声道），收到的数组形状是 {shape}",
        ),
        (
            "the audio is empty (0 samples); record or upload a longer clip",
            "音频是空的（0 个采样）；请录制或上传更长的片段",
        ),
        (
            "the audio contains NaN or infinite samples; check the recording or decoder",
            "音频中有 NaN 或无穷大的采样；请检查录音或解码器",
        ),
        (
            "audio file {path} does not exist",
            "音频文件 {path} 不存在",
        ),
        (
            "the audio file {name} is not a readable recording ({reason}): it may be "
            "corrupt, truncated or another kind of file; upload a WAV, FLAC, OGG or MP3 file",
            "音频文件 {name} 不是可读的录音（{reason}）：它可能已损坏、不完整或是别的文件；请"
            "上传 WAV、FLAC、OGG 或 MP3 文件",
        ),
        (
            "the description must be text, not {kind}",
            "描述必须是文字，而不是 {kind}",
        ),
        (
            "the description is longer than {n} characters; only the first {m} were used",
            "描述超过 {n} 个字符；只使用了前 {m} 个",
        ),
        (
            "this checkpoint reads English descriptions only, so a Chinese one is read at "
            "about chance; give it a Chinese encoder with `python -m mmdemo fit-chinese`",
            "这个检查点只读得懂英文描述，中文描述的读取接近随机；请用 `python -m mmdemo fit-c"
            "hinese` 为它加上中文编码器",
        ),
        (
            "nothing to analyze: give a face photo, a description or a voice recording",
            "没有可分析的内容：请给出一张人脸照片、一段描述或一段录音",
        ),
        (
            "no person {id} in the gallery; click a point on the map",
            "图库中没有人物 {id}；请在地图上点击一个点",
        ),
        (
            "no person {id} in the gallery; pick one from the list or the map",
            "图库中没有人物 {id}；请从列表或地图中选一个",
        ),
        (
            "unknown direction {d}; choose one of {choices}",
            "未知的方向 {d}；请从 {choices} 中选择",
        ),
        (
            "n_neighbors must be 2-200 and min_dist 0-1",
            "n_neighbors 必须在 2 到 200 之间，min_dist 必须在 0 到 1 之间",
        ),
        (
            "a map window is two finite numbers along x and two along y",
            "地图窗口由 x 方向的两个有限数和 y 方向的两个有限数组成",
        ),
        (
            "unknown attribute {a} to colour by",
            "无法按未知的特征 {a} 着色",
        ),
        (
            "the model could not be loaded from {path}: {reason}",
            "无法从 {path} 加载模型：{reason}",
        ),
        (
            "analyze someone first, then add them to the map",
            "请先分析一个人，再把他加入地图",
        ),
        (
            "nothing to download yet: analyze someone and press 'Add to map'",
            "还没有可下载的内容：请先分析一个人并点击“加入地图”",
        ),
        (
            "{n} of your samples on the map (this session only)",
            "地图上有你的 {n} 个样本（仅限本次会话）",
        ),
        (
            "UMAP 2D (the first run in a process compiles for ~15 s)",
            "UMAP 二维（进程中第一次运行需要约 15 秒编译）",
        ),
        ("UMAP 3D", "UMAP 三维"),
        ("done", "完成"),
        (
            "waiting for the camera",
            "正在等待摄像头",
        ),
        (
            "{fps} frames per second",
            "每秒 {fps} 帧",
        ),
    ]
)


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)), re.DOTALL
    )


_COMPILED = [(_pattern(en), zh) for en, zh in MESSAGES.items()]


def say(message: str, lang: str | None = None) -> str:
    """`message` (English, from the library or the page) in `lang` (default: the request's)."""
    if (lang or language()) != "zh":
        return message
    for pattern, zh in _COMPILED:
        m = pattern.fullmatch(message)
        if m:
            return zh.format(**m.groupdict())
    return message


def refusal(text: str) -> gr.Error:
    """A message to show as an error toast, in the page's language. (Gradio 6 heads every error toast
    "Error" whatever its title, so no title is given.)"""
    return gr.Error(say(text), duration=8)


def warning(text: str) -> None:
    """Shows a warning toast in the page's language."""
    gr.Warning(say(text))


def message(template: str, lang: str | None = None, **values) -> str:
    """One of the page's own `MESSAGES`, filled in, in `lang` (default: the request's)."""
    if template not in MESSAGES:
        raise KeyError(f"no message {template!r} in webapp/i18n.py")
    chosen = lang or language()
    return (MESSAGES[template] if chosen == "zh" else template).format(**values)
