"""Scale-out on Ray: hyper-parameter sweeps on Ray Tune (`tidyrl.distributed.sweep`).

Ray is imported only inside the functions that run on it, so importing tidyrl, or this
package, never imports Ray.
"""
