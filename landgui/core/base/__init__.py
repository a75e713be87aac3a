"""base: the bottom layer, which every other imports and which imports no other landgui code.

One error type (:mod:`.errors`), files written whole (:mod:`.atomic`), the user's folders and
file hashes (:mod:`.paths`), log files (:mod:`.logs`), thread counts (:mod:`.threads`), the one
progress signature and stop flag (:mod:`.types`), the terminal progress bar (:mod:`.progress`)
and the child-process job runner (:mod:`.jobs`). See docs/architecture.md.
"""
