"""The paper's experiments around the :mod:`implicit` engine.

Data sets (:mod:`.datasets`), the configuration's checks (:mod:`.config`) and its expansion
into runs (:mod:`.runs`), the jobs the workflow's rules call (:mod:`.jobs`), fits
(:mod:`.fits`), claims (:mod:`.claims`), figures (:mod:`.plotting`), the cost model
(:mod:`.cost`) and atomic file output (:mod:`.files`).  It imports :mod:`implicit`; the engine
never imports it.
"""
