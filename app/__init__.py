"""The web service of the HM-LSTM Boundary Lens (`uvicorn app.main:app`)."""
