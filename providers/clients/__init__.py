"""Client keys as records: who may call keyrelay, with which models, limits and budget.

``records`` holds what a key is (never the key itself: a prefix and a keyed hash),
``secret`` makes and checks keys, ``window`` is the pure admission and settlement of one
request against a key's limits, ``prices`` turns usage into cost, and ``gate`` is what
the web edge calls: verify, admit before any upstream is called, settle when it ends.
"""
