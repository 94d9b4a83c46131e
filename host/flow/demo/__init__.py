"""``edgemoe demo``: the whole flow on one config, stage by stage, skipping what is done.

``runner`` knows nothing of the flow: stages, content-hash stamps, progress, the summary.
``stages`` is the flow itself; it imports ``model`` (torch) and ``hls`` only inside the
stage functions, so ``edgemoe.host`` still imports on the board without torch.
"""
