"""Intent classifiers. Light on purpose: bot.settings reads the per-kind defaults from here."""

# The out-of-scope threshold each local classifier kind gets when classifier.oos_threshold is not
# set: the embeddings head is surer of itself, so it needs a higher cut (CLINC150: 0.6 keeps 92.2%
# in-scope accuracy at 87.1% out-of-scope recall; tfidf at 0.25: 91.0% / 69.3%; bench/classifier.py).
OOS_THRESHOLD_BY_KIND = {"tfidf": 0.25, "embeddings": 0.6}

# The same when the model learns an explicit out_of_scope class from off-topic examples
# (classifier.out_of_scope_file): the class does most of the work, the threshold only catches
# what resembles no example at all. Demo intents, 5-fold (bench/classifier.py), embeddings: 0.6
# would keep 63.8% in-scope accuracy (95.5% off-topic recall), 0.2 keeps 83.6% (88.4%); tfidf
# at 0.25: 66.2% (82.1%), 0.2: 68.2% (80.4%).
OOS_THRESHOLD_WITH_CLASS = {"tfidf": 0.2, "embeddings": 0.2}
