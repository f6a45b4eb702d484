# leaflint probe bootstrap: on PYTHONPATH only for processes started by `leaflint probe`.
# Activates the probe, then runs the sitecustomize this one shadows (if any).
def _leaflint_probe_boot():
    import importlib
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    added = False
    try:
        import leaflint.probe.bootstrap  # noqa: F401
    except ImportError:
        sys.path.append(pkg_parent)
        added = True
    try:
        from leaflint.probe import bootstrap

        bootstrap.activate_from_env()
    except Exception as exc:  # never break the program
        sys.stderr.write(f"leaflint probe: bootstrap failed: {exc!r}\n")
    finally:
        if added:
            try:
                sys.path.remove(pkg_parent)
            except ValueError:
                pass
    # Chain to a sitecustomize further down sys.path.
    mine = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        importlib.import_module("sitecustomize")
    except ImportError:
        if mine is not None:
            sys.modules["sitecustomize"] = mine
    finally:
        sys.path[:] = saved


_leaflint_probe_boot()
del _leaflint_probe_boot
