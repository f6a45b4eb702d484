"""leaflint/probe/fallback.py: which ``except`` around a line falls back on an exception (no torch)."""

from __future__ import annotations

import textwrap

from leaflint.probe import fallback

SOURCE = textwrap.dedent("""\
    def load(m, t):
        try:
            m.w = t
        except TypeError:
            m.w = wrap(t)


    def load_or_fail(m, t):
        try:
            m.w = t
        except TypeError:
            log("no")
            raise


    def outer(m, t):
        try:
            def inner():
                m.w = t
            inner()
        except (KeyError, TypeError):
            pass


    def broad(m, t):
        try:
            m.w = t
        except ValueError:
            pass
        except Exception:
            pass
        try:
            m.v = t
        except:
            m.v = None


    def nested(m, t):
        try:
            try:
                m.w = t
            except KeyError:
                pass
        except builtins.TypeError:
            pass
        m.u = t
""")


def _file(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(SOURCE)
    return str(path)


def test_a_handler_that_falls_back(tmp_path):
    assert fallback.handler_for(_file(tmp_path), 3, "TypeError") == "TypeError"
    assert fallback.handler_for(_file(tmp_path), 5, "TypeError") is None  # the handler's own line


def test_a_handler_that_reraises_is_no_fallback(tmp_path):
    assert fallback.handler_for(_file(tmp_path), 10, "TypeError") is None


def test_a_try_outside_the_function_is_not_the_lines(tmp_path):
    assert fallback.handler_for(_file(tmp_path), 19, "TypeError") is None  # inside inner()
    assert fallback.handler_for(_file(tmp_path), 20, "TypeError") == "TypeError"  # the call, in a tuple


def test_catch_all_handlers_and_nested_tries(tmp_path):
    path = _file(tmp_path)
    assert fallback.handler_for(path, 27, "TypeError") == "Exception"
    assert fallback.handler_for(path, 33, "TypeError") == "*"
    assert fallback.handler_for(path, 41, "TypeError") == "TypeError"  # the outer try, builtins.TypeError
    assert fallback.handler_for(path, 46, "TypeError") is None  # after the try


def test_unreadable_source_knows_no_fallback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    assert fallback.handler_for(str(bad), 1, "TypeError") is None
    assert fallback.handler_for(str(tmp_path / "missing.py"), 1, "TypeError") is None
