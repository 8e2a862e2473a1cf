"""The sampling loop: the sampler (noise batches -> forward passes -> vote counts), the forward passes' speed
options (autocast, channels_last, torch.compile, CUDA graphs), the distributed helpers and the label checks."""
