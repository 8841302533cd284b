"""Projects: teach the model your own actions from a few labelled clips each (the web app's "Your actions" page
and the /projects routes): clipwatch.projects.store keeps the clips and their table, .training estimates
and deploys through clipwatch.train, .jobs runs those as jobs."""
