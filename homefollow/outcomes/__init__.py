"""Service use and outcomes: importing admission history, finding candidates, before/after figures.

No Flask here: functions take a Session (where they need the database), dates and clocks as
arguments. The pure parts (lace, figures) take plain values and are tested by hand-computed
examples. See docs/outcomes.md.
"""
