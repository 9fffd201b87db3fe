"""A frozen copy of the parser, YAML reader, model builders and checks as they were at
commit 92b7873, before they were optimised for speed (issue 7).

It is the oracle of tests/test_parse_speed_equivalence.py: the fast code must give the
same parsed files, model and problems for every input. Do not edit these modules to
follow later changes of behaviour; change the test instead (it says why it differs).
"""
