"""recipe.decoder = "torchcodec": torchcodec's VideoDecoder behind the calls data/video.py makes of a
decord VideoReader (len, get_avg_fps, get_batch), so every reader of the project takes either.

On the CPU it decodes with FFmpeg in this process (one thread, like decord here), frames returned as
numpy arrays. On a CUDA device it decodes with NVDEC (torchcodec's "beta" CUDA backend, which needs no
FFmpeg built with CUDA) and returns CUDA tensors: the loader then runs in the training process
(engine/train.n_workers: no workers, CUDA does not survive fork) and crops on the GPU. `size` resizes
in the decoder (bilinear, antialiased: decord's is FFmpeg's bicubic; tests/test_decoders.py states
how far apart they are). Seek mode "exact": frame i is the i-th frame, as decord counts them."""

from __future__ import annotations


class TorchcodecVideo:
    def __init__(self, decoder, device: str):
        self.decoder, self.device = decoder, device
        meta = decoder.metadata
        self.n = int(meta.num_frames) if meta.num_frames else 0
        self.fps = float(meta.average_fps or 0.0)

    def __len__(self) -> int:
        return self.n

    def get_avg_fps(self) -> float:
        return self.fps

    def get_batch(self, indices):
        frames = self.decoder.get_frames_at([int(i) for i in indices]).data   # (n, H, W, 3) uint8
        return frames if self.device.startswith("cuda") else frames.numpy()


def open_torchcodec(path: str, size: int | None = None, device: str = "cpu") -> TorchcodecVideo:
    from contextlib import nullcontext

    from .ffmpeg_libs import load_torchcodec

    VideoDecoder = load_torchcodec()
    transforms = None
    if size:
        from torchcodec.transforms import Resize

        transforms = [Resize((size, size))]
    backend = nullcontext()
    if device.startswith("cuda"):
        from torchcodec.decoders import set_cuda_backend

        backend = set_cuda_backend("beta")
    with backend:   # an unreadable file raises here; video.open_video makes it a CorruptVideo
        vd = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, device=device,
                          seek_mode="exact", transforms=transforms)
    return TorchcodecVideo(vd, device)
