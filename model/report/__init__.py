"""``edgemoe report``: one self-contained HTML page (plus PNGs and ``report.json``) that
gathers the flow's results for an artifact: accuracy float vs fixed, a prediction
gallery, approximation errors, SQNR per layer, expert usage, bit-exactness across the
stages, RTL resources and the accelerator's block diagram.

Cheap results are computed here (simulator, float model, approximations); expensive ones
(C simulation, RTL, the board) are read from the JSON files their stages write.
"""
