"""Reports of scenario runs: the terminal summary table and the HTML report."""
