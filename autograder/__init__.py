"""Grading for the rnncourse chapters. One notebook's path through the modules:

    submissions.py   the file: size caps, links, JSON and schema, before anything is parsed as code
    notebooks.py     merge: locked and test cells from solutions/, answers and added cells from the student
    policy_process.py → source_rules.py
                     the course's source rules on the answers, in a child process with bounded memory
    engine.py        grade_notebook: the one place that decides points (its ``verdict`` rule)
      kernels.py     the grader's client of the kernel factory: spawn, kill, infrastructure vs student failures
        zygote.py    the factory: a pre-loaded process that forks one kernel per notebook
        sandbox.py   the layers a kernel enters before any student code (namespaces, uid, limits, seccomp)
        kernel.py    the untrusted side: runs the student's cells, serves calls to the student's functions
      remote.py      the trusted side of the channel: proxies the hidden checks call, callbacks, gradients
      served.py      course helpers an answer may call, run in a limited child process within the cell's deadline
      wire.py        the channel's frames and strict decoding of plain data, within a budget per message
      text.py        text from student code made writable (no lone surrogates, no control characters)
      checks/        the hidden checks (``check_<name>(fn)``), run in the grader against proxies
    results.py       NotebookResult / TestResult: what every output below reads
    grading.py       ``grade``: discovery, canary, parallel workers, resume, grades.csv, feedback, exit codes
    cluster.py       the same on a Dask cluster; nbgrader_bridge.py: the engine inside stock nbgrader
    feedback.py, report.py, validate.py, release.py, cli.py
"""
