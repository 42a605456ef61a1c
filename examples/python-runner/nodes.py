"""Node functions for examples/python-runner/bench.hcl: the quickstart's
question answering (retrieve, then answer), in Python, run in the plugin's
process by wtb-runner-python-example.

Each function takes the document a command node reads on stdin and returns
the patch to merge into the state; the same functions would run as command
nodes through sdk/python/wtb_node.py. Module level runs once per plugin
process: the corpus and its statistics below are computed once, not once per
node run.
"""

import math
import os
import re

CORPUS = [
    "What is the capital of a company? It is the money that the owners of the company invested.",
    "Paris is the capital and largest city of France.",
    "Berlin is the capital of Germany and its most populous city.",
    "Canberra is the capital city of Australia.",
    "Ottawa is the capital of Canada.",
    "Capital letters start every sentence in English; the capital city of a country is often its largest.",
    "The Nile is the longest river in Africa.",
    "The Amazon is the largest river by discharge of water in the world.",
    "Everest is the highest mountain above sea level.",
    "The Pacific is the largest and deepest ocean on Earth.",
    "Mercury is the smallest planet in the Solar System.",
    "Jupiter is the largest planet in the Solar System.",
    "A river is a natural flowing watercourse; the longest rivers cross several countries.",
    "The highest mountain in Africa is Kilimanjaro.",
]


def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


DOCS = [tokens(d) for d in CORPUS]
AVG_LEN = sum(len(d) for d in DOCS) / len(DOCS)
DF = {}
for doc in DOCS:
    for word in set(doc):
        DF[word] = DF.get(word, 0) + 1


def keyword_score(query, doc):
    """Question words in the document, stop words included: fooled by
    documents that share "the capital of" without answering."""
    words = set(doc)
    return sum(1 for w in query if w in words)


def bm25_score(query, doc, stop):
    k1, b, n = 1.2, 0.75, len(DOCS)
    score = 0.0
    for w in query:
        tf = doc.count(w)
        if w in stop or tf == 0:
            continue
        idf = math.log(1 + (n - DF[w] + 0.5) / (DF[w] + 0.5))
        score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / AVG_LEN))
    return score


def retrieve(request, ctx):
    """params {mode: "keyword" | "bm25", k} -> {passages}."""
    question = request["state"].get("question")
    if not question:
        raise ValueError("the state has no question")
    mode, k = request["params"].get("mode", "keyword"), int(request["params"].get("k", 2))
    # The environment provider wrote stopwords.txt into the variant's
    # working directory (its `files`).
    with open(os.path.join(ctx.working_dir, "stopwords.txt")) as f:
        stop = set(f.read().split())
    query = tokens(question)
    if mode == "keyword":
        scores = [keyword_score(query, d) for d in DOCS]
    elif mode == "bm25":
        scores = [bm25_score(query, d, stop) for d in DOCS]
    else:
        raise ValueError("unknown retrieval mode %r" % mode)
    ranked = sorted(range(len(DOCS)), key=lambda i: -scores[i])  # stable: ties keep corpus order
    if ctx.env.get("QA_LOG") == "1":
        ctx.log("retrieved with %s for %r" % (mode, question))
    return {"passages": [CORPUS[i] for i in ranked[:k]], "_metrics": {"top_score": scores[ranked[0]]}}


def answer(request):
    """params {style: "terse" | "verbose"} -> {answer}."""
    passages = request["state"].get("passages") or []
    if not passages:
        raise ValueError("the state has no passages; run retrieve first")
    top, style = passages[0], request["params"].get("style")
    if style == "verbose":
        return {"answer": top}
    if style == "terse":
        subject = top.split(" is ", 1)[0]
        return {"answer": subject[4:] if subject.startswith("The ") else subject}
    raise ValueError("unknown answer style %r" % style)
