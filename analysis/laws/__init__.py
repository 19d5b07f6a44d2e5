"""Laws as data: `forms` (the Form machinery and the catalogue of parametric laws), `published`
(published laws with citations, as a form key and parameters) and `powerlaw` (log-log power laws
for the compute-optimal allocations of Approaches 1 and 2).
Imports nothing itself."""
