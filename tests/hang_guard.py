"""The timeout the tests give a subprocess: a guard against a hang, never a measurement.

It is generous on purpose: CI and other checks run on a busy machine (a load of 5-10, or more,
on 2 cores), where starting Python and importing torch alone can take tens of seconds. A test
that needs a program to be ready waits for a readiness marker, not for a clock.
"""

HANG_GUARD = 900
