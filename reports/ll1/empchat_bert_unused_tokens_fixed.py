"""EmpatheticDialogues' BertAdapter re-initialises the unused BERT token rows under torch.no_grad().

Source: https://github.com/facebookresearch/EmpatheticDialogues/issues/46
Fix: the row writes under `with torch.no_grad():` (the Stack Overflow answer the reporter links)
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402

START_OF_COMMENT, PARLAI_PAD_TOKEN, EMPTYPERSONA_TOKEN, PAD_TOKEN = "[unused1]", "[unused2]", "[unused3]", "[PAD]"


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)


class BertModel(nn.Module):
    def __init__(self, vocab=16, dim=8):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, dim)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 2, 16, batch_first=True), 1)

    @classmethod
    def from_pretrained(cls, name):
        torch.manual_seed(0)
        return cls()

    def forward(self, token_ids):
        return self.encoder(self.embeddings.word_embeddings(token_ids))


class BertWrapper(nn.Module):
    def __init__(self, bert_model, output_dim):
        super().__init__()
        self.bert_model = bert_model
        self.additional_linear_layer = nn.Linear(8, output_dim)

    def forward(self, token_ids):
        return self.additional_linear_layer(self.bert_model(token_ids)[:, 0])


class BertAdapter(nn.Module):
    def __init__(self, opt, dictionary):
        super().__init__()
        self.opt = opt
        self.pad_idx = dictionary[PAD_TOKEN]
        self.ctx_bert = BertWrapper(bert_model=BertModel.from_pretrained("bert-base-uncased"), output_dim=opt["bert_dim"])
        self.cand_bert = BertWrapper(bert_model=BertModel.from_pretrained("bert-base-uncased"), output_dim=opt["bert_dim"])

        # Reset the embeddings for the until-now unused BERT tokens
        orig_embedding_weights = BertModel.from_pretrained("bert-base-uncased").embeddings.word_embeddings.weight
        mean_val = orig_embedding_weights.mean().item()
        std_val = orig_embedding_weights.std().item()
        unused_tokens = [START_OF_COMMENT, PARLAI_PAD_TOKEN, EMPTYPERSONA_TOKEN]
        unused_token_idxes = [dictionary[token] for token in unused_tokens]
        for token_idx in unused_token_idxes:
            rand_embedding = orig_embedding_weights.new_empty((1, orig_embedding_weights.size(1))).normal_(
                mean=mean_val, std=std_val
            )
            for embeddings in [
                self.ctx_bert.bert_model.embeddings.word_embeddings,
                self.cand_bert.bert_model.embeddings.word_embeddings,
            ]:
                with torch.no_grad():
                    embeddings.weight[token_idx] = rand_embedding
        self.ctx_bert.bert_model.embeddings.word_embeddings.weight.detach_()
        self.cand_bert.bert_model.embeddings.word_embeddings.weight.detach_()

    def forward(self, context_w, cands_w):
        return self.ctx_bert(context_w), self.cand_bert(cands_w)


if __name__ == "__main__":
    dictionary = {PAD_TOKEN: 0, START_OF_COMMENT: 1, PARLAI_PAD_TOKEN: 2, EMPTYPERSONA_TOKEN: 3}
    model = BertAdapter({"bert_dim": 4}, dictionary)
    ctx, cand = model(torch.tensor([[1, 5, 6]]), torch.tensor([[2, 7, 3]]))
    (ctx * cand).sum().backward()
    rows_set = all(not torch.equal(m.bert_model.embeddings.word_embeddings.weight[1],
                                   BertModel.from_pretrained("x").embeddings.word_embeddings.weight[1])
                   for m in (model.ctx_bert, model.cand_bert))
    clean("unused token rows re-initialised; the BERT heads train",
          rows_set and grads_flow([model.ctx_bert.additional_linear_layer.weight, model.cand_bert.additional_linear_layer.weight]))
