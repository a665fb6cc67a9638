"""Plotly figure builders (pure: data in, figure out)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from emotion_core.evaluation.metrics import row_normalize
from emotion_core.labels import EMOTIONS
from emotion_core.serving.pipeline import EMOTION_HEX

METRIC_NAMES = ("loss", "accuracy", "precision", "recall")


def class_counts_bar(counts: dict[str, dict[str, int]]) -> go.Figure:
    """Grouped bars of images per class and split; imbalance shows as bar height."""
    fig = go.Figure()
    for split, per_class in counts.items():
        fig.add_bar(name=split, x=list(per_class), y=list(per_class.values()),
                    text=list(per_class.values()), textposition="outside")
    fig.update_layout(barmode="group", xaxis_title="emotion", yaxis_title="images", height=380,
                      margin=dict(t=30, b=10), legend_title_text="split")
    return fig


def intensity_histogram(histograms: dict[str, np.ndarray]) -> go.Figure:
    """Pixel intensity distribution (0-255) per class."""
    fig = go.Figure()
    for label, hist in histograms.items():
        fig.add_scatter(x=np.arange(256), y=hist, mode="lines", name=label)
    fig.update_layout(xaxis_title="pixel value", yaxis_title="fraction of pixels", height=320, margin=dict(t=30))
    return fig


def metric_chart(rows: list[dict[str, float]], metric: str) -> go.Figure:
    """Train and validation curves of one metric per epoch."""
    fig = go.Figure()
    epochs = [r.get("epoch") for r in rows]
    for key, name in ((metric, "train"), (f"val_{metric}", "validation")):
        values = [r.get(key) for r in rows]
        if any(v is not None for v in values):
            fig.add_scatter(x=epochs, y=values, mode="lines+markers", name=name)
    fig.update_layout(title=metric, xaxis_title="epoch", height=300, margin=dict(t=40, b=10))
    return fig


def confusion_heatmap(matrix: Sequence[Sequence[float]], labels: Sequence[str] = EMOTIONS,
                      normalized: bool = False, title: str = "") -> go.Figure:
    """Heatmap with true classes on rows; counts or row-normalised (recall) values."""
    cm = np.asarray(matrix, dtype=float)
    z = row_normalize(cm) if normalized else cm
    text = [[f"{v:.2f}" if normalized else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(labels), y=list(labels), text=text, texttemplate="%{text}",
                               colorscale="Blues", hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"))
    fig.update_layout(title=title or ("Confusion matrix (row-normalised)" if normalized else "Confusion matrix"),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      height=480, margin=dict(t=50))
    return fig


def per_class_bars(per_class: dict[str, dict[str, float]]) -> go.Figure:
    fig = go.Figure()
    labels = list(per_class)
    for metric in ("precision", "recall", "f1"):
        fig.add_bar(name=metric, x=labels, y=[per_class[c][metric] for c in labels])
    fig.update_layout(barmode="group", yaxis_range=[0, 1], height=360, margin=dict(t=30))
    return fig


def probability_bars(probabilities: dict[str, float]) -> go.Figure:
    """Horizontal bars of one face's probabilities."""
    labels = list(probabilities)
    fig = go.Figure(go.Bar(x=[probabilities[k] for k in labels], y=labels, orientation="h"))
    fig.update_layout(xaxis_range=[0, 1], height=260, margin=dict(t=10, b=10, l=10, r=10))
    return fig


def probability_timeline(history: list[dict[str, float]]) -> go.Figure:
    """Per-emotion probability of the main face over recent frames."""
    fig = go.Figure()
    for emotion in EMOTIONS:
        fig.add_scatter(y=[h.get(emotion, 0.0) for h in history], mode="lines", name=emotion)
    fig.update_layout(yaxis_range=[0, 1], xaxis_title="frame", height=300, margin=dict(t=10, b=10))
    return fig


def track_timeline(times: np.ndarray, probs: np.ndarray, title: str = "") -> go.Figure:
    """The 7 probabilities of one tracked face over the video's time; probs (N, 7) in EMOTIONS order."""
    fig = go.Figure()
    for k, emotion in enumerate(EMOTIONS):
        fig.add_scatter(x=times, y=probs[:, k], mode="lines", name=emotion)
    fig.update_layout(title=title, yaxis_range=[0, 1], xaxis_title="time (s)", yaxis_title="probability",
                      height=340, margin=dict(t=40, b=10))
    return fig


def people_timeline(series: dict[int, tuple[np.ndarray, list[str]]], names: dict[int, str]) -> go.Figure:
    """Every person at once: one row per track (named by `names`), a mark per analysed frame in the colour of
    its top emotion, over the video's time."""
    fig = go.Figure()
    for emotion in EMOTIONS:
        xs, ys = [], []
        for track, (times, labels) in series.items():
            picked = [t for t, label in zip(times, labels) if label == emotion]
            xs += picked
            ys += [names[track]] * len(picked)
        if xs:
            fig.add_scatter(x=xs, y=ys, mode="markers", name=emotion, marker=dict(symbol="line-ns-open", size=14,
                                                                                 color=EMOTION_HEX[emotion]))
    fig.update_layout(xaxis_title="time (s)", height=120 + 36 * len(series), margin=dict(t=10, b=10),
                      yaxis=dict(categoryorder="array", categoryarray=[names[t] for t in series][::-1]))
    return fig


def emotion_shares(shares: dict[str, dict[str, float]]) -> go.Figure:
    """Stacked horizontal bars: per track (key), the share of its frames each emotion was the top label."""
    names = list(shares)
    fig = go.Figure()
    for emotion in EMOTIONS:
        fig.add_bar(name=emotion, y=names, x=[shares[n].get(emotion, 0.0) for n in names], orientation="h")
    fig.update_layout(barmode="stack", xaxis_range=[0, 1], xaxis_tickformat=".0%", xaxis_title="share of frames",
                      height=120 + 40 * len(names), margin=dict(t=10, b=10))
    return fig
