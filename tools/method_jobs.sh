# Job specs of the method comparisons (sourced by tools/method_table.sh and
# tools/make_results.sh): the data families and one job writer, so that both
# compare every method on the same settings.
#
# After sourcing: method_job NAME DATA_BLOCK EXTRA_BLOCK writes $RUN/NAME.pbtxt
# (model in $RUN/model-<NAME up to the first '-'>, output in $RUN/NAME);
# method_data FAMILY prints the data block of a family, writing its input
# files under $RUN first where it has any; iak_variants FAMILY prints the IAK
# configurations compared next to the methods (iak compare
# --compare_variants). Needs RUN and root (absolute repo).

# IAK phases and the batch every method trains with; STEPS_C / STEPS_M
# (compression / matching steps, summed over the domains) may be set first.
method_job() {  # name data_block extra_block
  cat > "$RUN/$1.pbtxt" <<SPEC
name: "$1"
model_dir: "$root/$RUN/model-${1%%-*}"
output_dir: "$root/$RUN/$1"
$2
iak { latent_dim: 16 encoder_hidden: 32 decoder_hidden: 32 }
phases { phase: PHASE_COMPRESSION steps: ${STEPS_C:-600} beta: 0.001 learning_rate: 0.002 }
phases { phase: PHASE_MATCHING steps: ${STEPS_M:-300} beta: 0.0001 learning_rate: 0.001 }
batch_size: 256
seed: 20250124
$3
SPEC
}

# Genre domains of MovieLens, a priority order (a movie has several genres;
# it goes to the first listed): the specific genres first, so that each
# domain is a distinct taste rather than "everything with Drama in it".
GENRE_DOMAINS='"Children", "Horror", "Sci-Fi", "Romance", "Action", "Comedy", "Drama"'

method_data() {  # family
  local ml="$root/datasets/ml-latest-small"
  case "$1" in
    movielens|periods)  # later rating periods; the base saw only 1996-2003
      echo 'data { movielens_dir: "'$ml'" period_bounds: [1996, 2004, 2008, 2012, 2016, 2019] pretrain_periods: 1 train_fraction: 0.8 validation_fraction: 0.1 }' ;;
    genres)  # genre domains of known users: the base saw a random half of all ratings
      echo 'data { movielens_dir: "'$ml'" period_bounds: [1996, 2019] genre_domains: ['"$GENRE_DOMAINS"'] pretrain_random_share: 0.5 train_fraction: 0.8 validation_fraction: 0.1 }' ;;
    synth)  # two tasks (click, conversion); the base (ESMM) saw the first domain
      if [[ ! -f "$RUN/synth.csv" ]]; then
        "$IAK" data synth --out="$RUN/synth.csv" --samples=300000 --keys=20000 --domains=12 \
          --seed=1 --domain_size_skew=3 > /dev/null
      fi
      echo 'data { schema_file: "'$root'/examples/synth.schema.pbtxt" input_files: "'$root/$RUN'/synth.csv" pretrain_periods: 1 }' ;;
    *) echo "method_data: unknown data family '$1' (movielens, genres, synth)" >&2; return 1 ;;
  esac
}

# The users and items of each family: key biases for both (docs/key_biases.md;
# min_count 2: keys seen once get none, which keeps IAK's output on the periods
# more than 10x below full fine-tuning's), and the item-side fields an adapter
# on fields re-reads per domain (docs/job_spec.md, "Adapter on fields").
iak_variants() {  # family
  local bias items
  case "$1" in
    movielens|periods|genres) bias='"user", "movie"'; items='"movie", "genres"' ;;
    synth) bias='"user", "item", "category"'; items='"item", "category"' ;;
    *) echo "iak_variants: unknown data family '$1' (movielens, genres, synth)" >&2; return 1 ;;
  esac
  local fields="insertion: \"x\" fields: [$items] encoder_hidden: 0 decoder_hidden: 0 initial_logvar: -6"
  echo "iak_bias=iak:iak { key_biases { enabled: true fields: [$bias] min_count: 2 } };"\
"iak_fields=iak:iak { $fields };"\
"iak_fields_bias=iak:iak { $fields key_biases { enabled: true fields: [$bias] min_count: 2 learning_rate: 0.1 } }"
}
